package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/internal/relaybench"
)

func newRelayCmd() *cobra.Command {
	o := relaybench.Options{}
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Hold N simulated Hosts against a relay; print connect rate, memory per Host, presence and setup latency",
		Long: `relay starts a relay (SQLite, a fresh data directory) in a child process,
enrolls the Hosts there, connects them from this process with the real agent
protocol (relay proof, signed auth, inventory; one goroutine each) from
127.0.1.x source addresses, then measures:

  connect/s         Hosts connected per second during the ramp
  RSS KiB/Host      the relay process's RSS growth over the ramp / Hosts
  heap+stack        the relay's Go heap and stacks growth (after a GC) / Hosts
  presence          from a Host's dial to the API listing it online
  setup             from POST /api/v1/sessions to the grant at the Host

Both processes raise RLIMIT_NOFILE to its hard limit; each Host is a
descriptor on either side, so the hard limit bounds N.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe = exe
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return relaybench.Run(ctx, cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().IntSliceVar(&o.Hosts, "hosts", []int{1000}, "Host counts, one table row (and fresh relay) each, e.g. 10000,19000")
	cmd.Flags().IntVar(&o.Presence, "presence", 50, "Hosts timed one by one from dial to listed online")
	cmd.Flags().IntVar(&o.Sessions, "sessions", 200, "session setups after the ramp")
	cmd.Flags().Float64Var(&o.Rate, "rate", 20, "session setups per second")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 64, "Hosts connecting at once")
	cmd.Flags().IntVar(&o.PerSource, "per-source", 20000, "Hosts per 127.0.1.x source address")
	cmd.Flags().StringVar(&o.HeapProfile, "heap-profile", "", "write the relay's heap profile after the ramp to this file (%d: the Host count)")
	cmd.Flags().DurationVar(&o.Settle, "settle", 5*time.Second, "wait after the ramp before measuring memory")

	var data string
	var hosts int
	node := &cobra.Command{
		Use:    "relay-node",
		Hidden: true,
		Short:  "The relay side of tandem-bench relay (run by it)",
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return relaybench.Node(ctx, cmd.OutOrStdout(), data, hosts)
		},
	}
	node.Flags().StringVar(&data, "data", "", "data directory")
	node.Flags().IntVar(&hosts, "hosts", 0, "Hosts to enroll")
	relayNode = node
	return cmd
}

// relayNode is the hidden child command of "relay".
var relayNode *cobra.Command
