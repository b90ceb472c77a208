//go:build linux

// Package xvfb starts a private Xvfb server for tests, demos and benchmarks.
//
// Shared machines may already run X servers on low display numbers, so Start
// picks the first display from 40 upward that has neither a socket nor a lock
// file, and kills only the processes it started.
package xvfb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable means Xvfb is not installed; tests skip only outside CI.
var ErrUnavailable = errors.New("xvfb: Xvfb is not installed (run scripts/deps.sh)")

// Server is a running Xvfb.
type Server struct {
	Display string // ":N"
	Width   int
	Height  int

	cmd      *exec.Cmd
	mu       sync.Mutex
	children []*exec.Cmd
	closed   bool
}

// Start launches Xvfb with a screen of w×h×24 and waits until it accepts
// connections. -noreset keeps the server (and the pointer) stable when the last
// client leaves.
func Start(w, h int) (*Server, error) {
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		return nil, ErrUnavailable
	}
	for n := 40; n < 400; n++ {
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		lock := fmt.Sprintf("/tmp/.X%d-lock", n)
		if exists(sock) || exists(lock) {
			continue
		}
		disp := ":" + strconv.Itoa(n)
		cmd := exec.Command(bin, disp, "-screen", "0", fmt.Sprintf("%dx%dx24", w, h),
			"-noreset", "-nolisten", "tcp", "+extension", "MIT-SHM", "+extension", "RANDR")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("xvfb: start: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		// Wait for the socket; if the server dies first (lost a race for the
		// display), try the next number.
		deadline := time.Now().Add(15 * time.Second)
		for {
			select {
			case <-exited:
				goto next
			default:
			}
			if exists(sock) {
				return &Server{Display: disp, Width: w, Height: h, cmd: cmd}, nil
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				return nil, errors.New("xvfb: server did not come up within 15s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	next:
	}
	return nil, errors.New("xvfb: no free display between :40 and :399")
}

// Env returns os.Environ() with DISPLAY set to this server.
func (s *Server) Env() []string {
	env := []string{"DISPLAY=" + s.Display}
	for _, kv := range os.Environ() {
		if len(kv) >= 8 && kv[:8] == "DISPLAY=" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Run starts an X client (xterm, xclock, ...) on this display; Close kills it.
func (s *Server) Run(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.children = append(s.children, cmd)
	s.mu.Unlock()
	go func() { _ = cmd.Wait() }()
	return cmd, nil
}

// Command returns an exec.Cmd for a one-shot X tool (xdotool, xwd) bound to
// this display.
func (s *Server) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.Env()
	return cmd
}

// WaitWindow polls xdotool until a window whose name matches pattern is
// mapped and returns its id.
func (s *Server) WaitWindow(ctx context.Context, pattern string) (string, error) {
	for {
		out, err := s.Command(ctx, "xdotool", "search", "--onlyvisible", "--name", pattern).Output()
		if err == nil && len(out) > 0 {
			id := string(out)
			for i, c := range id {
				if c == '\n' {
					id = id[:i]
					break
				}
			}
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("xvfb: window %q did not appear: %w", pattern, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close kills the clients started with Run and the server. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	kids := s.children
	s.mu.Unlock()
	for _, c := range kids {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for i := 0; i < 100 && exists(filepath.Join("/tmp/.X11-unix", "X"+s.Display[1:])); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			close(done)
		}()
		<-done
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
