package installer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kardianos/service"
)

// fakeSvc stands in for the kardianos service handed to the program.
type fakeSvc struct {
	service.Service
	stops atomic.Int32
}

func (f *fakeSvc) Stop() error { f.stops.Add(1); return nil }

func enrolledDir(t *testing.T) (string, *Config) {
	t.Helper()
	dir := t.TempDir()
	c := newConfig(t)
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	return dir, c
}

func readState(t *testing.T, dir string) State {
	t.Helper()
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestProgramStartStop(t *testing.T) {
	dir, c := enrolledDir(t)
	started := make(chan struct{})
	p := newProgram(&Service{ConfigDir: dir}, func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return nil
	})
	s := &fakeSvc{}
	if err := p.Start(s); err != nil { // returns at once while run blocks
		t.Fatal(err)
	}
	<-started
	if st := readState(t, dir); st.State != StateRunning || st.DeviceID != c.DeviceID || st.PID != os.Getpid() {
		t.Fatalf("state while running: %+v", st)
	}
	if err := p.Stop(s); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, dir); st.State != StateStopped {
		t.Fatalf("state after Stop: %+v", st)
	}
	if err := p.Stop(s); err != nil { // idempotent
		t.Fatal(err)
	}
	if p.result() != nil {
		t.Fatal(p.result())
	}
}

func TestProgramStopIsBounded(t *testing.T) {
	dir, _ := enrolledDir(t)
	release := make(chan struct{})
	defer close(release)
	p := newProgram(&Service{ConfigDir: dir, StopTimeout: 20 * time.Millisecond}, func(context.Context) error {
		<-release // ignores cancellation
		return nil
	})
	s := &fakeSvc{}
	if err := p.Start(s); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(s); err != nil { // returns after the bound
		t.Fatal(err)
	}
	if st := readState(t, dir); st.State != StateStopped {
		t.Fatalf("state: %+v", st)
	}
}

func TestProgramRevoked(t *testing.T) {
	dir, _ := enrolledDir(t)
	p := newProgram(&Service{ConfigDir: dir}, func(context.Context) error {
		return fmt.Errorf("relay said so: %w", ErrRevoked)
	})
	s := &fakeSvc{}
	if err := p.Start(s); err != nil {
		t.Fatal(err)
	}
	p.wait() // returns because run ended, without a signal
	st := readState(t, dir)
	if !st.Revoked() || !strings.Contains(st.Detail, "relay said so") {
		t.Fatalf("state: %+v", st)
	}
	if err := p.Stop(s); err != nil {
		t.Fatal(err)
	}
	if !readState(t, dir).Revoked() {
		t.Fatal("Stop overwrote the revoked state")
	}
	if p.result() != nil {
		t.Fatalf("a revocation must end the process cleanly (no restart): %v", p.result())
	}
	if runtime.GOOS == "windows" && s.stops.Load() != 1 {
		t.Fatal("Windows service did not ask the SCM to stop")
	}

	// Started again (launchd KeepAlive, a manual start): run is not called.
	called := false
	p2 := newProgram(&Service{ConfigDir: dir}, func(context.Context) error { called = true; return nil })
	if err := p2.Start(s); err != nil {
		t.Fatal(err)
	}
	p2.wait()
	if err := p2.Stop(s); err != nil {
		t.Fatal(err)
	}
	if called || !readState(t, dir).Revoked() {
		t.Fatal("a revoked host started its agent again")
	}
}

func TestProgramFailed(t *testing.T) {
	dir, _ := enrolledDir(t)
	boom := errors.New("boom")
	p := newProgram(&Service{ConfigDir: dir}, func(context.Context) error { return boom })
	s := &fakeSvc{}
	if err := p.Start(s); err != nil {
		t.Fatal(err)
	}
	p.wait()
	p.Stop(s)
	if st := readState(t, dir); st.State != StateFailed || st.Detail != "boom" {
		t.Fatalf("state: %+v", st)
	}
	if !errors.Is(p.result(), boom) {
		t.Fatalf("result %v: the service manager should see a failure", p.result())
	}
}

// TestProgramRelayKeyChanged: a refused re-enrollment (another relay key)
// stops the service cleanly (no restart by the manager) and the status says
// why; a later start runs the agent again.
func TestProgramRelayKeyChanged(t *testing.T) {
	dir, _ := enrolledDir(t)
	kc := &RelayKeyChangedError{RelayURL: "https://relay.example.com", Pinned: "AAAA", Got: "BBBB"}
	p := newProgram(&Service{ConfigDir: dir}, func(context.Context) error {
		return fmt.Errorf("agent: re-enrollment refused: %w", kc)
	})
	s := &fakeSvc{}
	if err := p.Start(s); err != nil {
		t.Fatal(err)
	}
	p.wait()
	if err := p.Stop(s); err != nil {
		t.Fatal(err)
	}
	st := readState(t, dir)
	if st.State != StateRelayKeyChanged || !strings.Contains(st.Detail, "BBBB") || st.Revoked() {
		t.Fatalf("state: %+v", st)
	}
	if p.result() != nil {
		t.Fatalf("the service manager would restart it: %v", p.result())
	}
	out := (&Status{Name: "h", Installed: true, State: st}).String()
	if !strings.Contains(out, "relay key mismatch") || !strings.Contains(out, "BBBB") {
		t.Fatalf("status: %q", out)
	}
	called := make(chan struct{})
	p2 := newProgram(&Service{ConfigDir: dir}, func(context.Context) error { close(called); return nil })
	if err := p2.Start(s); err != nil {
		t.Fatal(err)
	}
	p2.wait()
	p2.Stop(s)
	<-called
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if st, err := ReadState(dir); err != nil || st.State != "" {
		t.Fatalf("missing state: %+v %v", st, err)
	}
	if err := WriteState(dir, State{State: StateRevoked, Detail: "x", DeviceID: "d"}); err != nil {
		t.Fatal(err)
	}
	st := readState(t, dir)
	if !st.Revoked() || st.Detail != "x" || st.DeviceID != "d" || st.Time.IsZero() {
		t.Fatalf("%+v", st)
	}
	if fi, _ := os.Stat(filepath.Join(dir, StateFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600)
	if _, err := ReadState(dir); err == nil {
		t.Fatal("corrupt state accepted")
	}
	if err := ClearState(dir); err != nil {
		t.Fatal(err)
	}
	if err := ClearState(dir); err != nil {
		t.Fatal("ClearState of nothing:", err)
	}
}

func TestEnrollAfterRevocation(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	srv, _ := fakeEnroll(t, pub)
	dir := t.TempDir()
	ctx := context.Background()
	c1, err := Enroll(ctx, nil, srv.URL, "GOOD-KEY", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	WriteState(dir, State{State: StateStopped})
	c2, err := Enroll(ctx, nil, srv.URL, "GOOD-KEY", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Key.Equal(c1.Key) {
		t.Fatal("re-enrollment changed the identity")
	}
	if st := readState(t, dir); st.State != "" {
		t.Fatalf("enrollment kept the old state %+v", st)
	}
	WriteState(dir, State{State: StateRevoked})
	c3, err := Enroll(ctx, nil, srv.URL, "GOOD-KEY", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Key.Equal(c1.Key) {
		t.Fatal("enrollment after a revocation reused the dead identity")
	}
	if readState(t, dir).Revoked() {
		t.Fatal("enrollment kept the revoked state")
	}
}

func TestRemoveConfig(t *testing.T) {
	dir, _ := enrolledDir(t)
	WriteState(dir, State{State: StateStopped})
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o600)
	if err := RemoveConfig(dir, true); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	if strings.Join(names, ",") != KeyFile+","+ConfigFile {
		t.Fatalf("kept %v", names)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal("identity not usable after --keep-identity:", err)
	}
	if err := RemoveConfig(dir, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("config dir still there")
	}
	if err := RemoveConfig(dir, true); err != nil {
		t.Fatal("removing nothing:", err)
	}
	if err := RemoveConfig("", false); err == nil {
		t.Fatal("empty dir accepted")
	}
}

func TestNeedsAdmin(t *testing.T) {
	old := isAdmin
	isAdmin = func() bool { return false }
	defer func() { isAdmin = old }()
	sv := &Service{Name: "tandem-test-noadmin", ConfigDir: t.TempDir()}
	if _, err := sv.Install(context.Background(), nil, "http://127.0.0.1:1", "k", nil); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("Install: %v", err)
	}
	if _, err := sv.Uninstall(false); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("Uninstall: %v", err)
	}
	if err := sv.Start(); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("Start: %v", err)
	}
	if err := sv.Stop(); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("Stop: %v", err)
	}
	if !strings.Contains(ErrNotAdmin.Error(), "administrator") {
		t.Fatal(ErrNotAdmin)
	}
	if _, err := os.Stat(filepath.Join(sv.ConfigDir, ConfigFile)); err == nil {
		t.Fatal("a refused install enrolled")
	}
}

func TestServiceConfig(t *testing.T) {
	for _, n := range []string{"", ".x", "-x", "a b", "a/b", "a;b", strings.Repeat("a", 65)} {
		if ValidServiceName(n) == nil {
			t.Errorf("service name %q accepted", n)
		}
	}
	for _, n := range []string{"tandem-host", "tandem-test-0a1b", "Tandem_Host.2"} {
		if err := ValidServiceName(n); err != nil {
			t.Error(err)
		}
	}
	sv := &Service{ConfigDir: "rel/cfg", Executable: "/opt/tandem/tandem-host", RunArgs: []string{"--ice-loopback"}}
	cfg, err := sv.config()
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("rel/cfg")
	want := []string{"run", "--service", DefaultServiceName, "--config", abs, "--ice-loopback"}
	if cfg.Name != DefaultServiceName || !slices.Equal(cfg.Arguments, want) || cfg.Executable != filepath.Clean("/opt/tandem/tandem-host") {
		t.Fatalf("%+v", cfg)
	}
	if _, err := (&Service{}).config(); err == nil {
		t.Fatal("no config dir accepted")
	}
	if d, err := SystemConfigDir(); runtime.GOOS == "linux" && (err != nil || d != "/etc/tandem") {
		t.Fatalf("SystemConfigDir = %q, %v", d, err)
	}
}

func TestStatusString(t *testing.T) {
	c := newConfig(t)
	for _, tc := range []struct {
		st   Status
		want []string
		not  []string
	}{
		{Status{Name: "h", System: "sys", ConfigErr: ErrNotEnrolled}, []string{"service h (sys): not installed", "not enrolled"}, nil},
		{Status{Name: "h", Installed: true, Running: true, Config: c, State: State{State: StateRunning}},
			[]string{": running", "device: dev-1 (enrollment: enrolled)", "relay: https://relay.example.com"}, []string{"revoked"}},
		{Status{Name: "h", Installed: true, Config: c, State: State{State: StateStopped}}, []string{": stopped"}, []string{"revoked"}},
		{Status{Name: "h", Installed: true, Config: c, State: State{State: StateRevoked}},
			[]string{": revoked", "revoked: re-enroll with a new key"}, nil},
		{Status{Name: "h", Installed: true, Config: c, State: State{State: StateFailed, Detail: "disk full"}},
			[]string{": stopped", "last error: disk full"}, nil},
	} {
		out := tc.st.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q lacks %q", out, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%q has %q", out, w)
			}
		}
	}
}

// removeTree removes a nested configuration and accepts one already gone;
// under Wine (where os.RemoveAll fails) the MSI uninstall test covers its
// entry-by-entry path.
func TestRemoveTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"host.json", "a/x", "a/b/y"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	if err := removeTree(dir); err != nil {
		t.Fatalf("removing what is gone: %v", err)
	}
}
