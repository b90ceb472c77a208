package main

import "github.com/spf13/cobra"

// sessionAgentCommand: a Windows service starts its desktop helper itself
// (desktop-helper); there is no per-user agent.
func sessionAgentCommand(*string) *cobra.Command { return nil }
