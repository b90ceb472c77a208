//go:build linux

// Package winetest runs Windows programs under Wine for tests: a private
// Wine prefix on a private Xvfb, booted once and shared by a package's
// tests (a fresh prefix boots in 25–40 s on 2 cores), Windows builds of the
// project's commands (cgo through mingw-w64) and of small C fixtures.
//
// Wine 8 (Debian 12) needs two fixes, both applied here: Go ≥ 1.22
// programs load bcryptprimitives.dll's ProcessPrng, which Wine 8 lacks, so
// Start builds a DLL providing it and copies it into the prefix's system32
// (the only place the runtime searches); and the first Wine process starts
// background ones (services.exe, explorer.exe, ...) that inherit its
// output, so the session is started with output to /dev/null before any
// caller captures a pipe.
package winetest

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/tandem-rc/tandem/internal/xvfb"
)

//go:embed fixtures
var fixtures embed.FS

// MinGW is the C cross-compiler for 64-bit Windows.
const MinGW = "x86_64-w64-mingw32-gcc"

// ErrUnavailable: Wine, mingw-w64 or Xvfb is missing; tests skip, except
// under CI where scripts/deps.sh must have installed them.
var ErrUnavailable = errors.New("winetest: wine, wineserver, Xvfb or " + MinGW + " is not installed (scripts/deps.sh installs them on amd64)")

// ErrUnsupported: Wine runs 64-bit Windows programs on amd64 only.
var ErrUnsupported = errors.New("winetest: Wine runs the amd64 Windows builds on amd64 machines only")

// Check says whether Windows programs can run here: ErrUnsupported on
// other architectures (skip everywhere), ErrUnavailable when a tool is
// missing.
func Check() error {
	if runtime.GOARCH != "amd64" {
		return ErrUnsupported
	}
	for _, tool := range []string{"wine", "wineserver", "Xvfb", "xdotool", MinGW} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s", ErrUnavailable, tool)
		}
	}
	return nil
}

// Prefix is a booted Wine prefix whose windows show on X.
type Prefix struct {
	Dir string       // WINEPREFIX
	X   *xvfb.Server // the display its windows use
	env []string

	mu    sync.Mutex
	procs []*Proc
}

// Start makes a prefix in a new temporary directory, boots it on a new
// w×h Xvfb and makes Go programs start there. The caller Closes it.
func Start(ctx context.Context, w, h int) (p *Prefix, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-wine-")
	if err != nil {
		return nil, err
	}
	x, err := xvfb.Start(w, h)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p = &Prefix{Dir: filepath.Join(dir, "prefix"), X: x}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	p.env = append(x.Env(), "WINEPREFIX="+p.Dir, "WINEDEBUG=-all", "WINEARCH=win64",
		// No Mono or Gecko download prompts: nothing here needs them.
		"WINEDLLOVERRIDES=mscoree,mshtml=")
	dll := filepath.Join(dir, "bcryptprimitives.dll")
	built := make(chan error, 1)
	go func() { built <- BuildC(ctx, dll, "bcryptprimitives.c", "bcryptprimitives.def", "-shared") }()

	// Boot with output to /dev/null (see the package comment), then wait
	// for wineserver to settle: services answer "database locked" until
	// the boot's registry writes are done.
	boot := p.cmd(ctx, "wine", "wineboot", "-i")
	if err := boot.Run(); err != nil {
		<-built
		return nil, fmt.Errorf("winetest: wineboot: %w", err)
	}
	if err := p.cmd(ctx, "wineserver", "-w").Run(); err != nil {
		<-built
		return nil, fmt.Errorf("winetest: wineserver -w: %w", err)
	}
	if err := <-built; err != nil {
		return nil, err
	}
	b, err := os.ReadFile(dll)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.Path(`C:\windows\system32\bcryptprimitives.dll`), b, 0o644); err != nil {
		return nil, fmt.Errorf("winetest: install the ProcessPrng DLL: %w", err)
	}
	// Start the session (wineserver, services, explorer) again with its
	// output nowhere, so later commands' pipes close when they exit.
	if err := p.cmd(ctx, "wine", "cmd", "/c", "exit").Run(); err != nil {
		return nil, fmt.Errorf("winetest: start the wine session: %w", err)
	}
	return p, nil
}

// cmd is a Wine tool run in this prefix with no output.
func (p *Prefix) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = p.env
	return c
}

// Env is the environment Wine commands of this prefix run with.
func (p *Prefix) Env() []string { return slices.Clone(p.env) }

// Command runs the Windows program exe (a Linux path or a Windows one)
// with args in this prefix. Capture its output only for programs that
// start no background process (see the package comment).
func (p *Prefix) Command(ctx context.Context, exe string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "wine", append([]string{exe}, args...)...)
	c.Env = p.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	return c
}

// Output runs a Windows program and returns what it printed (stdout and
// stderr), with an error that includes it when it fails. The output goes
// through a file, not a pipe: programs like msiexec leave Wine processes
// behind that would hold a pipe open long after they exit.
func (p *Prefix) Output(ctx context.Context, exe string, args ...string) (string, error) {
	f, err := os.CreateTemp("", "tandem-wine-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c := p.Command(ctx, exe, args...)
	c.Stdout, c.Stderr = f, f
	err = c.Run()
	b, _ := os.ReadFile(f.Name())
	if err != nil {
		return string(b), fmt.Errorf("wine %s %s: %w\n%s", filepath.Base(exe), strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

// Proc is a Windows program running in the background.
type Proc struct {
	cmd  *exec.Cmd
	Log  string // the file its output goes to
	done chan struct{}
	err  error
}

// Go starts a Windows program in the background with its output in the
// file log; Close stops it.
func (p *Prefix) Go(exe, log string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := p.Command(context.Background(), exe, args...)
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		return nil, err
	}
	pr := &Proc{cmd: c, Log: log, done: make(chan struct{})}
	go func() { pr.err = c.Wait(); close(pr.done) }()
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()
	return pr, nil
}

// Done is closed when the program has exited.
func (pr *Proc) Done() <-chan struct{} { return pr.done }

// Output is what the program has printed so far.
func (pr *Proc) Output() string {
	b, _ := os.ReadFile(pr.Log)
	return string(b)
}

// Close kills the program (and what it started in its process group) and
// waits for it. Idempotent.
func (pr *Proc) Close() error {
	select {
	case <-pr.done:
		return nil
	default:
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-pr.done:
	case <-time.After(10 * time.Second):
		return errors.New("winetest: the program did not die")
	}
	return nil
}

// Path is the Linux path of the Windows path win in this prefix:
// drive C: is the prefix's drive_c, Z: is the Linux root.
func (p *Prefix) Path(win string) string {
	if len(win) < 2 || win[1] != ':' {
		return win
	}
	rest := strings.ReplaceAll(win[2:], `\`, "/")
	switch strings.ToUpper(win[:1]) {
	case "C":
		return filepath.Join(p.Dir, "drive_c", rest)
	case "Z":
		return filepath.Clean("/" + rest)
	}
	return win
}

// WinPath is the Windows name of the Linux path lin (through drive Z:).
func WinPath(lin string) string {
	abs, err := filepath.Abs(lin)
	if err != nil {
		abs = lin
	}
	return `Z:` + strings.ReplaceAll(abs, "/", `\`)
}

// WaitWindow waits until a window whose title matches pattern shows on X.
func (p *Prefix) WaitWindow(ctx context.Context, pattern string) (string, error) {
	return p.X.WaitWindow(ctx, pattern)
}

// Close kills the programs started with Go and every process of the
// prefix (wineserver -k), stops the Xvfb and removes the prefix. Idempotent
// enough: a second call finds nothing left.
func (p *Prefix) Close() error {
	p.mu.Lock()
	procs := p.procs
	p.procs = nil
	p.mu.Unlock()
	for _, pr := range procs {
		_ = pr.Close()
	}
	if p.env != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = p.cmd(ctx, "wineserver", "-k").Run()
		_ = p.cmd(ctx, "wineserver", "-w").Run()
		cancel()
	}
	if p.X != nil {
		_ = p.X.Close()
	}
	return os.RemoveAll(filepath.Dir(p.Dir))
}

// BuildC compiles the fixture src (a file under fixtures/, plus more
// fixture files or compiler flags) with mingw-w64 into out.
func BuildC(ctx context.Context, out string, src string, more ...string) error {
	tmp, err := os.MkdirTemp("", "tandem-winc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"-O2", "-municode", "-o", out}
	for _, f := range append([]string{src}, more...) {
		if strings.HasPrefix(f, "-") {
			args = append(args, f)
			continue
		}
		b, err := fixtures.ReadFile("fixtures/" + f)
		if err != nil {
			return err
		}
		path := filepath.Join(tmp, f)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		args = append(args, path)
	}
	c := exec.CommandContext(ctx, MinGW, args...)
	if b, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("winetest: %s %s: %w\n%s", MinGW, src, err, b)
	}
	return nil
}

// BuildGo cross-builds the Go package pkg (an import path or a ./dir of the
// calling test's module) for windows/amd64 with cgo through mingw-w64, as
// `make msi` does, into out.
func BuildGo(ctx context.Context, out, pkg string, ldflags string) error {
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	c := exec.CommandContext(ctx, "go", append(args, pkg)...)
	c.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=1", "CC="+MinGW)
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	if err := c.Run(); err != nil {
		return fmt.Errorf("winetest: go build %s for windows: %w\n%s", pkg, err, buf.String())
	}
	return nil
}

// CheckMSI says whether MSIs can be built here (wixl and msibuild, from
// Debian's wixl and msitools).
func CheckMSI() error {
	for _, tool := range []string{"wixl", "msibuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s", ErrUnavailable, tool)
		}
	}
	return nil
}

// ReadLog reads a log a Windows program wrote, in UTF-16 (with its byte
// order mark, as msiexec writes) or in 8-bit text, as a string; "" when
// it cannot be read.
func ReadLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0xfe {
		u := make([]uint16, 0, len(b)/2)
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
		}
		return string(utf16.Decode(u))
	}
	return string(b)
}
