package agent

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// SystemPower uses the Win32 and WTS APIs. The Host service runs as
// LocalSystem in session 0: session actions target the active console
// session through WTS (a session-0 process has no desktop to lock), and
// SendSAS needs the SoftwareSASGeneration policy to allow services.
func SystemPower() Power { return windowsPower{} }

type windowsPower struct{}

var (
	modwtsapi32           = windows.NewLazySystemDLL("wtsapi32.dll")
	procWTSLogoffSession  = modwtsapi32.NewProc("WTSLogoffSession")
	procWTSDisconnect     = modwtsapi32.NewProc("WTSDisconnectSession")
	procLockWorkStation   = windows.NewLazySystemDLL("user32.dll").NewProc("LockWorkStation")
	procSendSAS           = windows.NewLazySystemDLL("sas.dll").NewProc("SendSAS")
	shutdownReasonPlanned = uint32(windows.SHTDN_REASON_MAJOR_OTHER | windows.SHTDN_REASON_MINOR_OTHER | windows.SHTDN_REASON_FLAG_PLANNED)
)

// winCall runs a BOOL-returning API.
func winCall(p *windows.LazyProc, args ...uintptr) error {
	if err := p.Find(); err != nil {
		return fmt.Errorf("%s is unavailable: %w", p.Name, errors.ErrUnsupported)
	}
	if r, _, err := p.Call(args...); r == 0 {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	return nil
}

// inServiceSession reports whether this process runs in session 0.
func inServiceSession() bool {
	var sid uint32
	return windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &sid) == nil && sid == 0
}

func (windowsPower) Do(_ context.Context, a PowerAction) error {
	console := uintptr(windows.WTSGetActiveConsoleSessionId())
	switch a {
	case PowerLogout:
		if inServiceSession() {
			return winCall(procWTSLogoffSession, 0, console, 0)
		}
		return windows.ExitWindowsEx(windows.EWX_LOGOFF, shutdownReasonPlanned)
	case PowerLock:
		if inServiceSession() {
			// Disconnecting the console session shows its lock screen.
			return winCall(procWTSDisconnect, 0, console, 0)
		}
		return winCall(procLockWorkStation)
	case PowerRestart, PowerShutdown:
		if err := enableShutdownPrivilege(); err != nil {
			return err
		}
		flags := uint32(windows.EWX_POWEROFF | windows.EWX_FORCEIFHUNG)
		if a == PowerRestart {
			flags = windows.EWX_REBOOT | windows.EWX_FORCEIFHUNG
		}
		return windows.ExitWindowsEx(flags, shutdownReasonPlanned)
	case PowerCtrlAltDel:
		return winCall(procSendSAS, 0) // FALSE: the caller is a service
	}
	return fmt.Errorf("agent: unknown power action %q", a)
}

func enableShutdownPrivilege() error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("agent: open process token: %w", err)
	}
	defer tok.Close()
	var luid windows.LUID
	if err := windows.LookupPrivilegeValue(nil, windows.StringToUTF16Ptr("SeShutdownPrivilege"), &luid); err != nil {
		return fmt.Errorf("agent: look up the shutdown privilege: %w", err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil {
		return fmt.Errorf("agent: enable the shutdown privilege: %w", err)
	}
	return nil
}
