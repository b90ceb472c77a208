package main

import (
	"errors"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/internal/setupname"
)

// onlineInstaller reports whether this process is an online installer a
// relay's download page served (spec 4.5.2.1): started without arguments
// (a double-click) under a name that carries the relay URL and the
// enrollment key.
func onlineInstaller(args []string) (relayURL, key string, ok bool) {
	if len(args) != 1 {
		return "", "", false
	}
	return setupname.Parse(filepath.Base(args[0]))
}

// installerNameFlag adds --installer-name to cmd: the relay URL and key
// come from an online installer's file name (the macOS pkg's postinstall
// passes its package's). It returns a function to call first in RunE.
func installerNameFlag(cmd *cobra.Command, relayURL, key *string) func() error {
	var name string
	cmd.Flags().StringVar(&name, "installer-name", "", "take --relay and --key from an online installer's file name")
	return func() error {
		if name == "" {
			return nil
		}
		r, k, ok := setupname.Parse(filepath.Base(name))
		if !ok {
			return errors.New("--installer-name: not an online installer's name (was the downloaded file renamed? download it again from the install page)")
		}
		if *relayURL == "" {
			*relayURL = r
		}
		if *key == "" {
			*key = k
		}
		return nil
	}
}
