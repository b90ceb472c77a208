package guest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ExitError carries a remote command's exit code out of "tandem-guest
// exec": the process exits with Code and prints nothing more.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("the remote command exited with code %d", e.Code)
}

// signalContext is the CLI's context: Ctrl+C cancels (a remote command is
// then killed on the host). Tests replace it.
var signalContext = func(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := cli.SignalContext()
	stopParent := context.AfterFunc(parent, stop)
	return ctx, func() { stopParent(); stop() }
}

// featureCommands are "tandem-guest chat", "exec" and "power".
func featureCommands(connect func(context.Context, string) (*Session, error), timeout func() time.Duration) []*cobra.Command {
	chat := &cobra.Command{Use: "chat DEVICE", Short: "Chat with the device's local user: lines from stdin are sent, theirs are printed",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			s, err := connect(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			return runChat(ctx, s, cmd.InOrStdin(), cmd.OutOrStdout(), timeout())
		}}

	var dir string
	var limit time.Duration
	execCmd := &cobra.Command{Use: "exec DEVICE -- PROGRAM [ARGS...]",
		Short: "Run a program on the device and print its output; exits with its exit code",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if d := cmd.ArgsLenAtDash(); d != -1 && d != 1 {
				return errors.New("usage: tandem-guest exec DEVICE -- PROGRAM [ARGS...]")
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			s, err := connect(ctx, args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Exec(ctx, args[1:], ExecOptions{Dir: dir, Timeout: limit, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()})
			if res == nil {
				return err
			}
			if res.Status != wire.ExecExited && res.Message != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "tandem-guest:", res.Message)
			}
			if code := res.ExitCode(); code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		}}
	execCmd.Flags().StringVar(&dir, "dir", "", "absolute working directory on the device (default: the host user's home)")
	execCmd.Flags().DurationVar(&limit, "limit", 0, "kill the command after this long (default: no limit)")

	var names []string
	for n := range PowerActions {
		names = append(names, n)
	}
	sort.Strings(names)
	power := &cobra.Command{Use: "power DEVICE ACTION", Short: "Power action on the device: " + strings.Join(names, ", "),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, ok := PowerActions[strings.ToLower(args[1])]
			if !ok {
				return fmt.Errorf("unknown power action %q: use one of %s", args[1], strings.Join(names, ", "))
			}
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout())
			defer cancel()
			if err := s.Power(ctx, a); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s done\n", args[0], wire.PowerActionName(a))
			return nil
		}}
	return []*cobra.Command{chat, execCmd, power}
}

// chatLine turns a typed line into chat text: a carriage return goes, tabs
// become spaces; other control characters are refused by Send.
func chatLine(line string) string {
	return strings.ReplaceAll(strings.TrimRight(line, "\r"), "\t", "    ")
}

// runChat sends in's lines and prints the host's messages to out until in
// ends, ctx is cancelled or the session ends.
func runChat(ctx context.Context, s *Session, in io.Reader, out io.Writer, timeout time.Duration) error {
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), wire.MaxChat*4)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		select {
		case m := <-s.Chat().Messages():
			fmt.Fprintln(out, m.Text)
		case line := <-lines:
			text := chatLine(line)
			if strings.TrimSpace(text) == "" {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, timeout)
			err := s.Chat().Send(sctx, text)
			cancel()
			if err != nil {
				return err
			}
		case err := <-readErr:
			return err
		case <-s.Done():
			return s.Err()
		case <-ctx.Done():
			return nil
		}
	}
}
