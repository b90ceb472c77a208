package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/cli"
)

// helperCommand is the desktop helper a Windows service starts in the
// console session (agent.SpawnConsoleHelper): it reads the per-run secret
// from standard input and serves that desktop's capture and input to the
// service at --connect.
func helperCommand(logLevel *string) *cobra.Command {
	var connect string
	cmd := &cobra.Command{Use: "desktop-helper", Hidden: true, Args: cobra.NoArgs,
		Short: "Serve this desktop's screen and input to the Host service (started by the service)",
		RunE: func(*cobra.Command, []string) error {
			log, err := cli.Logger(*logLevel)
			if err != nil {
				return err
			}
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			secret, herr := hex.DecodeString(strings.TrimSpace(line))
			if err != nil || herr != nil || len(secret) != agent.HelperSecretSize {
				return errors.New("desktop-helper: the service's secret is missing on standard input")
			}
			ctx, stop := cli.SignalContext()
			defer stop()
			return agent.RunDesktopHelper(ctx, connect, secret,
				func() (capture.Capturer, error) { return capture.Open(capture.Options{Logger: log}) },
				func() (input.Injector, error) { return input.Open(input.Options{Logger: log}) }, log)
		}}
	cmd.Flags().StringVar(&connect, "connect", "", "the service's loopback address")
	return cmd
}

// bridgedDesktop serves capture and input through a desktop helper that
// spawn starts for the desktop now in front (a Windows console session, a
// macOS console user) and reports it as who; when front() says another
// desktop came forward since (a user switch), the old helper is dropped
// and the next session starts one there.
func bridgedDesktop(ctx context.Context, log *slog.Logger, spawn func(addr string, secret []byte) (who int64, err error),
	front func() int64) (func() (capture.Capturer, error), func() (input.Injector, error), bool, error) {
	var servedFor atomic.Int64
	servedFor.Store(-1)
	b, err := agent.NewHelperBridge(log, func(addr string, secret []byte) error {
		who, err := spawn(addr, secret)
		if err == nil {
			servedFor.Store(who)
		}
		return err
	})
	if err != nil {
		return nil, nil, false, err
	}
	go func() {
		if err := b.Run(ctx); err != nil {
			log.Error("desktop helper listener stopped", "err", err)
		}
	}()
	fresh := func() {
		if front() != servedFor.Load() {
			b.Drop()
		}
	}
	return func() (capture.Capturer, error) { fresh(); return b.OpenCapture() },
		func() (input.Injector, error) { fresh(); return b.OpenInput() }, true, nil
}
