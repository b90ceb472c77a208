package main

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/keyring"
)

func newRotateKeyCmd(data, db *string) *cobra.Command {
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the relay's signing key with a new one, handed over by the current key",
		Long: `Make a new signing key for the relay (all nodes of a cluster on --db
postgres://...). The current key signs the new one with a validity: Hosts
that pinned the current key (or an earlier rotated one) check that
hand-over at their next connection and pin the new key; a key without a
valid hand-over is refused. A Host offline for longer than --valid-for
must enroll again.

Cluster nodes take the new key at once; a single relay within 15 s.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := relay.RotateKey(cmd.Context(), *data, *db, validity)
			if pub != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "new signing key %s (hand-over valid until %s)\n",
					base64.StdEncoding.EncodeToString(pub), time.Now().Add(validity).UTC().Format(time.RFC3339))
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&validity, "valid-for", keyring.DefaultValidity, "how long Hosts accept the hand-over")
	return cmd
}
