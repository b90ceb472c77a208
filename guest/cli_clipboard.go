package guest

import (
	"context"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tandem-rc/tandem/transport/wire"
)

// clipboardCommand is "tandem-guest clipboard get|set".
func clipboardCommand(connect func(context.Context, string) (*Session, error), timeout func() time.Duration) *cobra.Command {
	cc := &cobra.Command{Use: "clipboard", Short: "Read or set a device's clipboard text (needs the clipboard permission)"}
	get := &cobra.Command{Use: "get DEVICE", Short: "Print the device's clipboard text", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout())
			defer cancel()
			text, err := s.Clipboard(ctx)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		}}

	var hold time.Duration
	set := &cobra.Command{Use: "set DEVICE [TEXT]", Short: "Offer text (or standard input) on the device's clipboard while the session lasts",
		Long: "The host withdraws a session's clipboard text when the session ends, so the text is never\n" +
			"offered to another technician. set keeps the session open until Ctrl+C, or for --for.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var text string
			if len(args) == 2 {
				text = args[1]
			} else {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), wire.MaxClipboard+1))
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				text = string(b)
			}
			if err := checkClipboard(text); err != nil {
				return err
			}
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout())
			err = s.SetClipboard(ctx, text)
			cancel()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d bytes on %s's clipboard until this session ends (Ctrl+C)\n", len(text), args[0])
			var until <-chan time.Time
			if hold > 0 {
				until = time.After(hold)
			}
			select {
			case <-cmd.Context().Done():
			case <-until:
			case <-s.Done():
				return s.Err()
			}
			return nil
		}}
	set.Flags().DurationVar(&hold, "for", 0, "end the session after this long (default: until interrupted)")
	cc.AddCommand(get, set)
	return cc
}

// checkClipboard refuses text the host would refuse, before connecting.
func checkClipboard(text string) error {
	if len(text) > wire.MaxClipboard {
		return fmt.Errorf("clipboard text is over %d bytes; nothing was sent", wire.MaxClipboard)
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("clipboard text is not UTF-8; nothing was sent")
	}
	return nil
}

// holdCommand is "tandem-guest lock|blank DEVICE": it applies a local-desk
// request and keeps the session (and so the lock or the black screen) until
// Ctrl+C or --for; the host releases it when the session ends.
func holdCommand(use, short, done string, apply func(context.Context, *Session) error,
	connect func(context.Context, string) (*Session, error), timeout func() time.Duration) *cobra.Command {
	var hold time.Duration
	c := &cobra.Command{Use: use + " DEVICE", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout())
			err = apply(ctx, s)
			cancel()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s until this session ends (Ctrl+C)\n", args[0], done)
			var until <-chan time.Time
			if hold > 0 {
				until = time.After(hold)
			}
			select {
			case <-cmd.Context().Done():
			case <-until:
			case <-s.Done():
				return s.Err()
			}
			return nil
		}}
	c.Flags().DurationVar(&hold, "for", 0, "end the session after this long (default: until interrupted)")
	return c
}
