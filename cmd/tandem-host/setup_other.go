//go:build !windows

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// runSetup: online installers are a Windows double-click affair (macOS
// pkgs carry the name instead and call `enroll --installer-name`). A
// binary renamed so elsewhere says what to run.
func runSetup(relayURL, key string) int {
	fmt.Fprintf(os.Stderr, "tandem-host: %s is named as a Windows online installer for %s.\n"+
		"On this system, install the Host package and enroll it as root with:\n"+
		"  tandem-host install --relay %s --key %s\n"+
		"or open %s/d/%s in a browser for this system's installer.\n",
		filepath.Base(os.Args[0]), relayURL, relayURL, key, relayURL, key)
	return 2
}
