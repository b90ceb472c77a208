package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"
	"github.com/tandem-rc/tandem/transport/wire"
)

// DefaultServiceName is the name the Host is installed under.
const DefaultServiceName = "tandem-host"

// DefaultStopTimeout bounds how long Stop waits for the agent to end its
// sessions (below the 10 s the SysV script and well below the 20 s the
// Windows service manager wait before giving up).
const DefaultStopTimeout = 5 * time.Second

var (
	// ErrNotAdmin: installing, removing and controlling the service needs
	// root or Administrator rights.
	ErrNotAdmin = errors.New("installer: this command needs administrator rights; " + adminHint)
	// ErrRevoked is what a service run function returns (wrapping its own
	// error) when the relay no longer accepts this identity: the service
	// records it and stops instead of retrying.
	ErrRevoked = errors.New("installer: this device was revoked or removed; re-enroll with a new key")
	// ErrNotInstalled: the service is not installed.
	ErrNotInstalled = errors.New("installer: the service is not installed (run: tandem-host install --relay URL --key KEY)")
)

// isAdmin is a seam for tests.
var isAdmin = isAdminOS

// IsAdmin reports whether this process runs as root / elevated Administrator.
func IsAdmin() bool { return isAdmin() }

// SystemConfigDir is the operating system's place for the installed Host's
// configuration: /etc/tandem, %ProgramData%\Tandem or
// /Library/Application Support/Tandem.
func SystemConfigDir() (string, error) { return systemConfigDir() }

// ChosenSystem names the service manager kardianos/service uses here
// (linux-systemd, unix-systemv, windows-service, darwin-launchd, ...).
func ChosenSystem() string {
	if s := service.ChosenSystem(); s != nil {
		return s.String()
	}
	return "none"
}

// Service installs and controls the Host as an operating-system service.
// The zero value plus ConfigDir is usable.
type Service struct {
	Name      string // service name; DefaultServiceName if empty
	ConfigDir string // where host.json, device.key and state.json live
	// Executable is the binary the service runs; the current one if empty.
	Executable string
	// RunArgs are extra arguments for `tandem-host run` (log level, ICE
	// options); the service manager does not pass the installer's
	// environment on.
	RunArgs     []string
	Logger      *slog.Logger
	StopTimeout time.Duration // DefaultStopTimeout if zero
}

func (sv *Service) name() string {
	if sv.Name == "" {
		return DefaultServiceName
	}
	return sv.Name
}

func (sv *Service) log() *slog.Logger {
	if sv.Logger == nil {
		return slog.Default()
	}
	return sv.Logger
}

// ValidServiceName accepts names safe in a file name, a unit name and a
// shell script: letters, digits, '-', '_' and '.', not starting with '.'.
func ValidServiceName(n string) error {
	if n == "" || len(n) > 64 || n[0] == '.' || n[0] == '-' {
		return fmt.Errorf("installer: invalid service name %q", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("installer: invalid service name %q (letters, digits, '-', '_', '.')", n)
		}
	}
	return nil
}

// config is the kardianos description of the service: it runs
// `tandem-host run --service NAME --config DIR [RunArgs]`.
func (sv *Service) config() (*service.Config, error) {
	if err := ValidServiceName(sv.name()); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(sv.ConfigDir)
	if err != nil || sv.ConfigDir == "" {
		return nil, fmt.Errorf("installer: configuration directory %q is not usable", sv.ConfigDir)
	}
	exe := sv.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("installer: cannot find this program's path: %w", err)
		}
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, err
	}
	args := append([]string{"run", "--service", sv.name(), "--config", dir}, sv.RunArgs...)
	return &service.Config{
		Name:        sv.name(),
		DisplayName: "Tandem Host (" + sv.name() + ")",
		Description: "Tandem Host: lets authorized technicians see and control this computer.",
		Executable:  exe,
		Arguments:   args,
		Option: service.KeyValue{
			// systemd: a revoked device exits 0 and must stay stopped.
			"Restart": "on-failure",
			// launchd: start at boot.
			"RunAtLoad": true,
			"KeepAlive": true,
		},
	}, nil
}

func (sv *Service) kardianos(p service.Interface) (service.Service, error) {
	cfg, err := sv.config()
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = nopProgram{}
	}
	s, err := service.New(p, cfg)
	if err != nil {
		return nil, fmt.Errorf("installer: %w", err)
	}
	return s, nil
}

type nopProgram struct{}

func (nopProgram) Start(service.Service) error { return nil }
func (nopProgram) Stop(service.Service) error  { return nil }

// status is kardianos' status with the SysV quirk smoothed over: its
// script exits 1 for "Stopped", which kardianos reports as an error.
func status(s service.Service, name string) (installed, running bool, err error) {
	st, err := s.Status()
	switch {
	case err == nil:
		return st != service.StatusUnknown, st == service.StatusRunning, nil
	case errors.Is(err, service.ErrNotInstalled):
		return false, false, nil
	}
	if ok, known := installedHint(s.Platform(), name); known {
		return ok, false, nil
	}
	return false, false, fmt.Errorf("installer: service status: %w", err)
}

// Install enrolls this host with the relay, writes the configuration to
// ConfigDir, installs the service and starts it. On an installed host it
// re-enrolls (with key) and restarts the service, so `install` again is
// how a host moves to a new package or comes back after a revocation.
func (sv *Service) Install(ctx context.Context, hc *http.Client, relayURL, key string, inv *wire.Inventory) (*Config, error) {
	if !isAdmin() {
		return nil, ErrNotAdmin
	}
	s, err := sv.kardianos(nil)
	if err != nil {
		return nil, err
	}
	installed, running, err := status(s, sv.name())
	if err != nil {
		return nil, err
	}
	if running {
		if err := s.Stop(); err != nil {
			return nil, fmt.Errorf("installer: stop the running service: %w", err)
		}
	}
	c, err := Enroll(ctx, hc, relayURL, key, sv.ConfigDir, inv)
	if err != nil {
		if running {
			_ = s.Start() // leave it as it was
		}
		return nil, err
	}
	if installed && packagedService(s.Platform(), sv.name()) {
		// The deb/rpm's own unit runs the packaged binary with the system
		// configuration: it only needs enabling and (re)starting.
		if err := enablePackaged(sv.name(), true); err != nil {
			return c, fmt.Errorf("installer: %w", err)
		}
		if err := s.Start(); err != nil {
			return c, fmt.Errorf("installer: enrolled, but the service did not start: %w", err)
		}
		return c, nil
	}
	if installed {
		// Rewrite the service definition: the binary or options may have
		// changed since the first install.
		if err := s.Uninstall(); err != nil {
			return nil, fmt.Errorf("installer: replace the service definition: %w", err)
		}
		cleanupService(s.Platform(), sv.name(), false)
	}
	if err := s.Install(); err != nil {
		cleanupService(s.Platform(), sv.name(), false)
		return nil, fmt.Errorf("installer: install the service: %w", err)
	}
	if err := s.Start(); err != nil {
		return c, fmt.Errorf("installer: the service is installed but did not start: %w", err)
	}
	sv.log().Debug("service installed and started", "service", sv.name(), "system", s.Platform(), "device", c.DeviceID)
	return c, nil
}

// UninstallReport says what Uninstall did.
type UninstallReport struct {
	WasInstalled bool
	KeptIdentity bool
}

// Uninstall stops and removes the service, then its configuration; with
// keepIdentity, host.json and device.key stay (so a later install on this
// machine is the same device).
func (sv *Service) Uninstall(keepIdentity bool) (UninstallReport, error) {
	var r UninstallReport
	if !isAdmin() {
		return r, ErrNotAdmin
	}
	s, err := sv.kardianos(nil)
	if err != nil {
		return r, err
	}
	installed, running, err := status(s, sv.name())
	if err != nil {
		return r, err
	}
	r.WasInstalled = installed
	if running {
		if err := s.Stop(); err != nil {
			return r, fmt.Errorf("installer: stop the service: %w", err)
		}
	}
	switch {
	case installed && packagedService(s.Platform(), sv.name()):
		// The unit file belongs to the package (removed with it).
		if err := enablePackaged(sv.name(), false); err != nil {
			return r, fmt.Errorf("installer: %w", err)
		}
	case installed:
		if err := s.Uninstall(); err != nil {
			// kardianos fails on Windows after deleting the service when no
			// event log source was registered (a service the MSI
			// installed): the service is gone, so carry on.
			if still, _, serr := status(s, sv.name()); serr != nil || still {
				return r, fmt.Errorf("installer: remove the service: %w", err)
			}
			sv.log().Debug("service removed", "service", sv.name(), "warning", err)
		}
	}
	cleanupService(s.Platform(), sv.name(), true)
	if err := RemoveConfig(sv.ConfigDir, keepIdentity); err != nil {
		return r, err
	}
	r.KeptIdentity = keepIdentity
	return r, nil
}

// removeTree is os.RemoveAll, retried for a few seconds and then entry by
// entry: on Windows the service's process may still hold its log open for
// a moment after the manager reports it stopped, and Wine 8 lacks what
// os.RemoveAll uses there (FileDispositionInformationEx) while os.Remove
// works.
func removeTree(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		var paths []string
		_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, werr error) error {
			if werr == nil {
				paths = append(paths, p)
			}
			return nil
		})
		for j := len(paths) - 1; j >= 0; j-- { // children before their folder
			_ = os.Remove(paths[j])
		}
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // waiting on another process to close a file
	}
	return err
}

// RemoveConfig deletes the configuration directory, or with keepIdentity
// everything in it except host.json and device.key.
func RemoveConfig(dir string, keepIdentity bool) error {
	if dir == "" {
		return errors.New("installer: no configuration directory")
	}
	if !keepIdentity {
		if err := removeTree(dir); err != nil {
			return fmt.Errorf("installer: remove %s: %w", dir, err)
		}
		return nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	for _, e := range ents {
		if e.Name() == ConfigFile || e.Name() == KeyFile {
			continue
		}
		if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("installer: %w", err)
		}
	}
	return nil
}

// Start starts the installed service.
func (sv *Service) Start() error { return sv.control(true) }

// Stop stops the installed service.
func (sv *Service) Stop() error { return sv.control(false) }

func (sv *Service) control(start bool) error {
	if !isAdmin() {
		return ErrNotAdmin
	}
	s, err := sv.kardianos(nil)
	if err != nil {
		return err
	}
	installed, running, err := status(s, sv.name())
	if err != nil {
		return err
	}
	switch {
	case !installed:
		return ErrNotInstalled
	case start && running, !start && !running:
		return nil
	case start:
		if _, err := Load(sv.ConfigDir); err != nil {
			return err
		}
		if err := s.Start(); err != nil {
			if st, _ := ReadState(sv.ConfigDir); st.Revoked() {
				// A revoked host's service stops itself at once, and the
				// SysV script may see it gone already: that is the design.
				return nil
			}
			return fmt.Errorf("installer: start the service: %w", err)
		}
	default:
		if err := s.Stop(); err != nil {
			return fmt.Errorf("installer: stop the service: %w", err)
		}
	}
	return nil
}

// Restart restarts the service if it is installed (after `enroll`).
func (sv *Service) Restart() error {
	if err := sv.Stop(); err != nil {
		return err
	}
	return sv.Start()
}

// Status is what `tandem-host status` prints.
type Status struct {
	Name      string
	System    string // kardianos' service manager
	Installed bool
	Running   bool
	Config    *Config // nil when not enrolled
	ConfigErr error   // why Config is nil
	State     State   // as the service last recorded it
}

// Status reports the service, its enrollment and the recorded state. It
// works without administrator rights as far as the files are readable.
func (sv *Service) Status() (*Status, error) {
	s, err := sv.kardianos(nil)
	if err != nil {
		return nil, err
	}
	st := &Status{Name: sv.name(), System: s.Platform()}
	if st.Installed, st.Running, err = status(s, sv.name()); err != nil {
		return nil, err
	}
	st.Config, st.ConfigErr = Load(sv.ConfigDir)
	st.State, _ = ReadState(sv.ConfigDir)
	return st, nil
}

// Summary is the one word: not installed, running, stopped or revoked.
func (st *Status) Summary() string {
	switch {
	case !st.Installed:
		return "not installed"
	case st.Running:
		return "running"
	case st.State.Revoked():
		return "revoked"
	case st.State.State == StateRelayKeyChanged:
		return "stopped: relay key mismatch"
	default:
		return "stopped"
	}
}

func (st *Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s (%s): %s\n", st.Name, st.System, st.Summary())
	switch {
	case st.Config != nil:
		fmt.Fprintf(&b, "device: %s (enrollment: %s)\nrelay: %s\n", st.Config.DeviceID, st.Config.State, st.Config.RelayURL)
	case st.ConfigErr != nil:
		fmt.Fprintf(&b, "enrollment: %v\n", st.ConfigErr)
	}
	switch st.State.State {
	case StateRevoked:
		b.WriteString("revoked: re-enroll with a new key (tandem-host install --relay URL --key KEY)\n")
	case StateRelayKeyChanged:
		if !st.Running {
			fmt.Fprintf(&b, "relay key mismatch: %s\n", st.State.Detail)
		}
	case StateFailed:
		if !st.Running {
			fmt.Fprintf(&b, "last error: %s\n", st.State.Detail)
		}
	}
	return b.String()
}

// Run is the service process: it runs run(ctx) under the service manager
// until the manager stops it, or run returns on its own (revoked device,
// fatal error). It returns run's error, except for a revocation, which is
// recorded in StateFile and logged, and ends the process cleanly so that
// service managers do not restart it.
func (sv *Service) Run(run func(ctx context.Context) error) error {
	p := newProgram(sv, run)
	cfg, err := sv.config()
	if err != nil {
		return err
	}
	cfg.Option["RunWait"] = p.wait
	s, err := service.New(p, cfg)
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	if err := runManaged(s, sv.name()); err != nil {
		return err
	}
	return p.result()
}

// program implements service.Interface around a run function.
type program struct {
	sv      *Service
	run     func(ctx context.Context) error
	log     *slog.Logger
	timeout time.Duration

	exited chan struct{} // closed when run returned by itself
	once   sync.Once

	mu        sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{} // closed when the run goroutine has returned
	err       error
	stopped   bool // Stop was asked
	selfEnded bool // run ended by itself (revoked, error); its state is recorded
}

func newProgram(sv *Service, run func(ctx context.Context) error) *program {
	t := sv.StopTimeout
	if t <= 0 {
		t = DefaultStopTimeout
	}
	return &program{sv: sv, run: run, log: sv.log(), timeout: t, exited: make(chan struct{})}
}

// Start launches run and returns at once.
func (p *program) Start(s service.Service) error {
	dir := p.sv.ConfigDir
	if st, _ := ReadState(dir); st.Revoked() {
		// launchd/systemd may start us again: do not knock on the relay
		// with an identity it already refused.
		p.log.Error("not starting: this device was revoked or removed by an administrator; re-enroll with a new key: tandem-host install --relay URL --key KEY")
		p.mu.Lock()
		p.done = make(chan struct{})
		close(p.done)
		p.mu.Unlock()
		p.finished(s)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.mu.Lock()
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	deviceID := ""
	if c, err := Load(dir); err == nil {
		deviceID = c.DeviceID
	}
	if err := WriteState(dir, State{State: StateRunning, DeviceID: deviceID, PID: os.Getpid()}); err != nil {
		p.log.Warn("cannot record the service state", "err", err)
	}
	p.log.Info("service started", "service", p.sv.name(), "device", deviceID)
	go func() {
		defer close(done)
		err := p.run(ctx)
		p.mu.Lock()
		self := !p.stopped || errors.Is(err, ErrRevoked)
		p.selfEnded = self
		p.mu.Unlock()
		if self {
			p.ended(s, deviceID, err)
		} // else Stop records the state
	}()
	return nil
}

// ended handles run returning without Stop: revocation or a fatal error.
func (p *program) ended(s service.Service, deviceID string, err error) {
	st := State{DeviceID: deviceID}
	switch {
	case errors.Is(err, ErrRevoked):
		st.State, st.Detail = StateRevoked, err.Error()
		p.log.Error("service stopping: this device was revoked or removed by an administrator; re-enroll with a new key: tandem-host install --relay URL --key KEY", "err", err)
	case errors.As(err, new(*RelayKeyChangedError)):
		// Restarting would only send the package key to the same wrong
		// answer again: stop cleanly and say why in the status.
		st.State, st.Detail = StateRelayKeyChanged, err.Error()
		p.log.Error("service stopping: enrolling again was answered with a relay key other than the pinned one; identity unchanged", "err", err)
	case err != nil:
		st.State, st.Detail = StateFailed, err.Error()
		p.log.Error("service stopping on an error", "err", err)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	default:
		st.State = StateStopped
		p.log.Info("service stopping: the agent ended")
	}
	if werr := WriteState(p.sv.ConfigDir, st); werr != nil {
		p.log.Warn("cannot record the service state", "err", werr)
	}
	p.finished(s)
}

// finished makes the service manager stop us.
func (p *program) finished(s service.Service) {
	p.once.Do(func() {
		close(p.exited)
		selfStop(s)
	})
}

// wait is kardianos' RunWait on Unix: until SIGTERM/SIGINT or run ends.
func (p *program) wait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-p.exited:
	}
}

// Stop cancels run and waits for it, at most the stop timeout.
func (p *program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done, already := p.cancel, p.done, p.stopped
	p.stopped = true
	p.mu.Unlock()
	if done == nil || already {
		return nil
	}
	select {
	case <-done:
		return nil // ended by itself; state already recorded
	default:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(p.timeout):
		p.log.Warn("the agent did not stop in time; exiting anyway", "timeout", p.timeout)
	}
	p.mu.Lock()
	self := p.selfEnded
	p.mu.Unlock()
	if !self { // otherwise ended recorded why
		st, _ := ReadState(p.sv.ConfigDir)
		st.State, st.Detail, st.PID, st.Time = StateStopped, "", 0, time.Time{}
		if err := WriteState(p.sv.ConfigDir, st); err != nil {
			p.log.Warn("cannot record the service state", "err", err)
		}
	}
	p.log.Info("service stopped", "service", p.sv.name())
	return nil
}

func (p *program) result() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
