// Package cli holds what the commands share: logging setup, signal-aware
// contexts and the ICE flags.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/tandem-rc/tandem/transport"
)

// Logger returns a text logger on stderr at the given level name.
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("unknown log level %q (debug, info, warn, error)", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// ICEFlags are the WebRTC options every peer command takes.
type ICEFlags struct {
	RelayOnly bool
	Loopback  bool
}

// Add registers --relay-only and --ice-loopback (also TANDEM_ICE_LOOPBACK=1,
// for machines where only loopback traffic is allowed, such as CI).
func (f *ICEFlags) Add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.RelayOnly, "relay-only", os.Getenv("TANDEM_RELAY_ONLY") == "1", "use only TURN-relayed connections (env TANDEM_RELAY_ONLY=1)")
	fs.BoolVar(&f.Loopback, "ice-loopback", os.Getenv("TANDEM_ICE_LOOPBACK") == "1", "gather ICE candidates on loopback only (env TANDEM_ICE_LOOPBACK=1)")
}

// Config returns the transport template.
func (f *ICEFlags) Config(log *slog.Logger) transport.Config {
	return transport.Config{RelayOnly: f.RelayOnly, Loopback: f.Loopback, Logger: log}
}
