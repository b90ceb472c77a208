//go:build linux

// Package xvfb starts a private Xvfb server for tests, demos and benchmarks.
//
// Shared machines may already run X servers, so the server picks a free
// display itself, and Close kills only the processes Start started.
package xvfb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
// connections. The server picks its own free display (-displayfd): it takes
// the display's lock file atomically, so concurrent test processes never
// share or steal a display, which choosing a number here could not promise.
// -noreset keeps the server (and the pointer) stable when the last client
// leaves.
func Start(w, h int) (*Server, error) {
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		return nil, ErrUnavailable
	}
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", w, h),
		"-noreset", "-nolisten", "tcp", "+extension", "MIT-SHM", "+extension", "RANDR")
	cmd.ExtraFiles = []*os.File{wr} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return nil, fmt.Errorf("xvfb: start: %w", err)
	}
	wr.Close()
	go func() { _ = cmd.Wait() }()

	// The server writes the display number once it is ready; EOF without a
	// number means it died.
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 32))
		got <- strings.TrimSpace(string(b))
	}()
	select {
	case n := <-got:
		if _, err := strconv.Atoi(n); err != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return nil, fmt.Errorf("xvfb: server did not start (display %q)", n)
		}
		return &Server{Display: ":" + n, Width: w, Height: h, cmd: cmd}, nil
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil, errors.New("xvfb: server did not come up within 15s")
	}
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
