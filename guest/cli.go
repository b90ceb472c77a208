package guest

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tandem-rc/tandem/internal/cli"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/version"
	"github.com/tandem-rc/tandem/transport/wire"
)

func defaultConfigDir() string {
	if d := os.Getenv("TANDEM_CONFIG_DIR"); d != "" {
		return d
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ".tandem-guest"
	}
	return filepath.Join(d, "tandem-guest")
}

// Command builds the tandem-guest command tree.
func Command() *cobra.Command {
	var configDir, logLevel string
	var insecureHTTP bool
	var timeout time.Duration
	var ice cli.ICEFlags
	rc := &cobra.Command{Use: "tandem-guest", Short: "Tandem Guest: see and control your devices",
		SilenceUsage: true, SilenceErrors: true}
	pf := rc.PersistentFlags()
	pf.StringVar(&configDir, "config", defaultConfigDir(), "state directory (env TANDEM_CONFIG_DIR)")
	pf.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	pf.DurationVar(&timeout, "timeout", 30*time.Second, "give up connecting after this long")
	ice.Add(pf)
	pf.BoolVar(&insecureHTTP, relayurl.FlagName, false, "accept a plain http:// relay off this machine (remembered by login; warned at every start)")

	client := func() (*Client, error) {
		st, err := LoadState(configDir)
		if err != nil {
			return nil, err
		}
		log, err := cli.Logger(logLevel)
		if err != nil {
			return nil, err
		}
		insecure := st.InsecureHTTP || insecureHTTP
		if err := relayurl.Allow(st.Relay, insecure, log); err != nil {
			return nil, err
		}
		c, err := NewClientWith(st.Relay, st.Token, insecure)
		if err != nil {
			return nil, err
		}
		c.Logger = log
		return c, nil
	}
	connect := func(ctx context.Context, device string) (*Session, error) {
		c, err := client()
		if err != nil {
			return nil, err
		}
		// Timeout bounds the connection itself; a session someone must
		// allow by email first waits for that until the request expires.
		return c.Connect(ctx, device, ConnectOptions{Transport: ice.Config(c.Logger), Timeout: timeout,
			OnConfirmation: func(cf *wire.Confirmation) {
				fmt.Fprintf(os.Stderr, "waiting for confirmation: %s (until %s)\n", cf.Message, time.Unix(cf.ExpiresAt, 0).Format("15:04"))
			}})
	}

	var relay, user string
	login := &cobra.Command{Use: "login", Short: "Log in to a relay (password from a prompt or TANDEM_PASSWORD)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if relay == "" || user == "" {
				return errors.New("--relay and --user are required")
			}
			pw := os.Getenv("TANDEM_PASSWORD")
			if pw == "" {
				if !term.IsTerminal(int(os.Stdin.Fd())) {
					return errors.New("no password: set TANDEM_PASSWORD or run in a terminal")
				}
				fmt.Fprint(os.Stderr, "Password: ")
				b, err := term.ReadPassword(int(os.Stdin.Fd()))
				fmt.Fprintln(os.Stderr)
				if err != nil {
					return err
				}
				pw = string(b)
			}
			log, err := cli.Logger(logLevel)
			if err != nil {
				return err
			}
			if err := relayurl.Allow(relay, insecureHTTP, log); err != nil {
				return err
			}
			c, err := NewClientWith(relay, "", insecureHTTP)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			lr, err := c.Login(ctx, user, pw)
			if err != nil {
				return err
			}
			if lr.MFARequired {
				// Two-step login (spec 5.1): the relay emailed a code.
				code := os.Getenv("TANDEM_MFA_CODE")
				if code == "" {
					if !term.IsTerminal(int(os.Stdin.Fd())) {
						return errors.New("the relay emailed you a login code: set TANDEM_MFA_CODE or run in a terminal")
					}
					fmt.Fprint(os.Stderr, "Code from the email (or a recovery code): ")
					b, err := term.ReadPassword(int(os.Stdin.Fd()))
					fmt.Fprintln(os.Stderr)
					if err != nil {
						return err
					}
					code = strings.TrimSpace(string(b))
				}
				if lr, err = c.LoginMFA(ctx, lr.Challenge, code); err != nil {
					return err
				}
			}
			if err := SaveState(configDir, &State{Relay: c.Relay, Email: lr.User.Email, Token: lr.Token, ExpiresAt: lr.ExpiresAt,
				InsecureHTTP: insecureHTTP && relayurl.Insecure(c.Relay)}); err != nil {
				return err
			}
			fmt.Printf("logged in to %s as %s\n", c.Relay, lr.User.Email)
			return nil
		}}
	login.Flags().StringVar(&relay, "relay", "", "relay URL")
	login.Flags().StringVar(&user, "user", "", "your email address")

	devices := &cobra.Command{Use: "devices", Short: "List the devices you may control", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			ds, err := c.Devices(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tOS\tSTATE\tSTATUS\tUSER")
			for _, d := range ds {
				status := "offline"
				if d.Online {
					status = "online"
				} else if d.LastSeen > 0 {
					status = "last seen " + time.Unix(d.LastSeen, 0).Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.OS, d.State, status, d.User)
			}
			return tw.Flush()
		}}

	var out string
	snapshot := &cobra.Command{Use: "snapshot DEVICE", Short: "Save the device's screen as PNG", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o FILE.png is required")
			}
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			img, _, err := s.Snapshot(ctx)
			if err != nil {
				return err
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := png.Encode(f, img); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Printf("saved %dx%d screen of %s to %s\n", img.Bounds().Dx(), img.Bounds().Dy(), args[0], out)
			return nil
		}}
	snapshot.Flags().StringVarP(&out, "output", "o", "", "PNG file to write")

	var move, click, text, key string
	inputCmd := &cobra.Command{Use: "input DEVICE", Short: "Send input: --move X,Y, --click BUTTON, --type TEXT, --key [Mod+]CODE (applied in that order)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msgs, err := inputMessages(move, click, text, key)
			if err != nil {
				return err
			}
			s, err := connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			for _, m := range msgs {
				if err := s.Send(m); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := s.Sync(ctx); err != nil {
				return err
			}
			fmt.Printf("sent %d input event(s) to %s\n", len(msgs), args[0])
			return nil
		}}
	inputCmd.Flags().StringVar(&move, "move", "", "move the pointer to X,Y (screen pixels)")
	inputCmd.Flags().StringVar(&click, "click", "", "click a button: left, middle, right (or 1..5)")
	inputCmd.Flags().StringVar(&text, "type", "", "type this text")
	inputCmd.Flags().StringVar(&key, "key", "", "press a key by KeyboardEvent.code, with optional modifiers: Enter, KeyA, Ctrl+KeyC, Ctrl+Alt+Delete")

	files := filesCommand(connect, func() time.Duration { return timeout })
	clip := clipboardCommand(connect, func() time.Duration { return timeout })
	lock := holdCommand("lock", "Lock the device's local keyboard and mouse while the session lasts (needs lock_input)", "has its keyboard and mouse locked",
		func(ctx context.Context, s *Session) error { return s.LockInput(ctx, true) }, connect, func() time.Duration { return timeout })
	blank := holdCommand("blank", "Blank the device's monitor while the session lasts (needs blank_screen; not every host can)", "has its screen blanked",
		func(ctx context.Context, s *Session) error { return s.BlankScreen(ctx, true) }, connect, func() time.Duration { return timeout })

	ver := &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		Run: func(*cobra.Command, []string) { fmt.Println("tandem-guest", version.Version) }}
	rc.AddCommand(login, devices, snapshot, inputCmd, files, clip, lock, blank, ver)
	rc.AddCommand(featureCommands(connect, func() time.Duration { return timeout })...)
	return rc
}

// inputMessages turns the input flags into wire messages, validating all of
// them before anything is sent.
func inputMessages(move, click, text, key string) ([]wire.Message, error) {
	var msgs []wire.Message
	if move != "" {
		xs, ys, ok := strings.Cut(move, ",")
		x, err1 := strconv.Atoi(strings.TrimSpace(xs))
		y, err2 := strconv.Atoi(strings.TrimSpace(ys))
		if !ok || err1 != nil || err2 != nil || x < 0 || y < 0 {
			return nil, fmt.Errorf("--move wants X,Y in pixels, got %q", move)
		}
		msgs = append(msgs, &wire.MouseMove{X: int32(x), Y: int32(y)})
	}
	if click != "" {
		b, ok := map[string]uint8{"left": 1, "middle": 2, "right": 3, "back": 4, "forward": 5,
			"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}[strings.ToLower(click)]
		if !ok {
			return nil, fmt.Errorf("--click wants left, middle, right, back or forward, got %q", click)
		}
		msgs = append(msgs, &wire.MouseButton{Button: b, Down: true}, &wire.MouseButton{Button: b, Down: false})
	}
	if text != "" {
		if len(text) > wire.MaxText {
			return nil, fmt.Errorf("--type text is longer than %d bytes", wire.MaxText)
		}
		msgs = append(msgs, &wire.Text{Text: text})
	}
	if key != "" {
		parts := strings.Split(key, "+")
		var mods uint8
		for _, p := range parts[:len(parts)-1] {
			m, ok := map[string]uint8{"shift": 1, "ctrl": 2, "control": 2, "alt": 4, "meta": 8, "win": 8, "cmd": 8, "super": 8}[strings.ToLower(p)]
			if !ok {
				return nil, fmt.Errorf("--key: unknown modifier %q (Shift, Ctrl, Alt, Meta)", p)
			}
			mods |= m
		}
		code := parts[len(parts)-1]
		if code == "" || len(code) > 64 {
			return nil, fmt.Errorf("--key: missing key code in %q", key)
		}
		msgs = append(msgs, &wire.KeyTap{Code: code, Mods: mods})
	}
	if len(msgs) == 0 {
		return nil, errors.New("nothing to send: use --move, --click, --type or --key")
	}
	return msgs, nil
}
