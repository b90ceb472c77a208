//go:build !windows

package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/internal/fsutil"
)

// On macOS the Host's LaunchDaemon (root, no GUI session) cannot capture
// or inject: a per-user LaunchAgent (`tandem-host session-agent`, started
// by launchd in each GUI login) does it for the daemon, speaking the
// desktop helper's protocol (deskbridge.go). launchd starts the agent, not
// the daemon, so the daemon cannot hand it the secret on standard input:
// when a session needs the desktop it writes a ticket (its loopback
// address and a fresh secret) into a root-owned directory, readable only
// by the console user, and that user's agent connects with it. Each ticket
// is used once; a new helper means a new ticket and a new secret, so an
// agent of a user who logged out or switched away cannot pose as the
// current one. Tested on Linux, where the same files and sockets work.

// AgentTicketDir is where the macOS daemon writes its tickets.
const AgentTicketDir = "/var/run/tandem-host"

// maxTicket bounds a ticket file's size (address and secret).
const maxTicket = 256

func ticketPath(dir string, uid int) string {
	return filepath.Join(dir, fmt.Sprintf("agent-%d.ticket", uid))
}

// WriteAgentTicket is the daemon's side: it writes addr and secret for
// uid's session agent into dir (created 0755), mode 0600, owned by uid.
func WriteAgentTicket(dir string, uid int, addr string, secret []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("agent: ticket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("agent: ticket directory: %w", err)
	}
	p := ticketPath(dir, uid)
	if err := fsutil.WriteAtomic(p, []byte(addr+" "+hex.EncodeToString(secret)+"\n")); err != nil {
		return fmt.Errorf("agent: writing the session agent's ticket: %w", err)
	}
	if os.Geteuid() == 0 && uid != 0 {
		if err := os.Chown(p, uid, -1); err != nil {
			os.Remove(p)
			return fmt.Errorf("agent: handing the ticket to uid %d: %w", uid, err)
		}
	}
	return nil
}

// errNoTicket: the daemon has written no ticket for this user (yet).
var errNoTicket = errors.New("no ticket from the Host service yet")

// readAgentTicket is the agent's side. It trusts a ticket only where
// nobody but root (and the user) could have written it — a root-owned
// directory no one else may write to, a file of root's or the user's that
// only its owner reads — and only for an address on this machine: a forged
// ticket would send the user's screen to whoever wrote it.
func readAgentTicket(dir string, uid int) (addr string, secret []byte, raw []byte, err error) {
	di, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil, errNoTicket
	}
	if err != nil {
		return "", nil, nil, err
	}
	if st, ok := di.Sys().(*syscall.Stat_t); !di.IsDir() || !ok || st.Uid != 0 || di.Mode().Perm()&0o022 != 0 {
		return "", nil, nil, fmt.Errorf("%s is not a directory only root may write to: refused", dir)
	}
	p := ticketPath(dir, uid)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil, errNoTicket
	}
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || !ok ||
		(st.Uid != 0 && int(st.Uid) != uid) || fi.Mode().Perm()&0o077 != 0 {
		return "", nil, nil, fmt.Errorf("%s is not a private file of root's or this user's: refused", p)
	}
	raw, err = io.ReadAll(io.LimitReader(f, maxTicket+1))
	if err != nil {
		return "", nil, nil, err
	}
	if len(raw) > maxTicket {
		return "", nil, nil, fmt.Errorf("%s: ticket too long", p)
	}
	a, s, ok := strings.Cut(strings.TrimSpace(string(raw)), " ")
	ap, perr := netip.ParseAddrPort(a)
	secret, herr := hex.DecodeString(s)
	if !ok || perr != nil || !ap.Addr().IsLoopback() || herr != nil || len(secret) != HelperSecretSize {
		return "", nil, nil, fmt.Errorf("%s: not a ticket for a service on this machine", p)
	}
	return a, secret, raw, nil
}

// RunSessionAgent serves this user's desktop to the Host daemon: it waits
// for a ticket for uid in dir (checking every poll), serves the desktop
// helper's protocol with it until the daemon hangs up, then waits for the
// next ticket. It returns when ctx ends.
func RunSessionAgent(ctx context.Context, dir string, uid int, poll time.Duration,
	openCapture func() (capture.Capturer, error), openInput func() (input.Injector, error), log *slog.Logger) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	var used []byte // the last ticket served: each is used once
	lastProblem := ""
	for {
		addr, secret, raw, err := readAgentTicket(dir, uid)
		switch {
		case err == nil && !bytes.Equal(raw, used):
			used = raw
			log.Info("session agent: serving this desktop to the Host service", "addr", addr)
			err = RunDesktopHelper(ctx, addr, secret, openCapture, openInput, log)
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				log.Info("session agent: the Host service hung up")
			}
		case errors.Is(err, errNoTicket):
			err = nil
		}
		// Said once per new problem, not at every poll.
		if p := fmt.Sprint(err); err != nil && p != lastProblem {
			log.Warn("session agent", "err", err)
			lastProblem = p
		} else if err == nil {
			lastProblem = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
