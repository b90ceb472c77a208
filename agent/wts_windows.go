package agent

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The Windows service reaches the console session's user through the
// Terminal Services API: message boxes on that session's desktop
// (WTSSendMessageW works from session 0, where the service runs), and the
// session's lock state. Not run in this project's CI (Linux); it
// cross-compiles.

var (
	wtsapi32                        = windows.NewLazySystemDLL("wtsapi32.dll")
	procWTSSendMessageW             = wtsapi32.NewProc("WTSSendMessageW")
	procWTSQuerySessionInformationW = wtsapi32.NewProc("WTSQuerySessionInformationW")
)

const (
	wtsSessionInfoEx = 25         // WTS_INFO_CLASS WTSSessionInfoEx
	wtsStateLock     = 0x0        // WTS_SESSIONSTATE_LOCK
	wtsStateUnlock   = 0x1        // WTS_SESSIONSTATE_UNLOCK
	idYes            = 6          // IDYES
	idTimeout        = 32000      // the box timed out (IDTIMEOUT)
	idAsync          = 32001      // not waited for (IDASYNC)
	wtsNoSession     = 0xFFFFFFFF // WTSGetActiveConsoleSessionId: none
)

// wtsMessage shows a message box on session sid's desktop. With wait it
// returns the button pressed (idYes, ...) or idTimeout after
// timeout (0: none); without, idAsync at once.
func wtsMessage(sid uint32, title, text string, style uint32, timeout time.Duration, wait bool) (uint32, error) {
	t, err := windows.UTF16FromString(title)
	if err != nil {
		return 0, err
	}
	m, err := windows.UTF16FromString(text)
	if err != nil {
		return 0, err
	}
	var resp uint32
	w := uintptr(0)
	if wait {
		w = 1
	}
	// Lengths are in bytes, without the terminating NUL.
	r, _, e := procWTSSendMessageW.Call(0, uintptr(sid),
		uintptr(unsafe.Pointer(&t[0])), uintptr((len(t)-1)*2),
		uintptr(unsafe.Pointer(&m[0])), uintptr((len(m)-1)*2),
		uintptr(style), uintptr(timeout/time.Second), uintptr(unsafe.Pointer(&resp)), w)
	if r == 0 {
		return 0, fmt.Errorf("agent: WTSSendMessage to session %d: %w", sid, e)
	}
	return resp, nil
}

// wtsLocked reports whether session sid is at the lock screen; known is
// false when Windows does not say (then no "except when locked" applies).
// WTSINFOEXW is Level (4 bytes), then at offset 8 (the union holds
// LARGE_INTEGERs) WTSINFOEX_LEVEL1_W's SessionId, SessionState and
// SessionFlags, so the flags are at 16. Windows 8 / Server 2012 and
// later; Windows 7 reports the flag inverted and is not supported.
func wtsLocked(sid uint32) (locked, known bool) {
	var buf *byte
	var n uint32
	r, _, _ := procWTSQuerySessionInformationW.Call(0, uintptr(sid), wtsSessionInfoEx,
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 || buf == nil {
		return false, false
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	if n < 20 {
		return false, false
	}
	b := unsafe.Slice(buf, n)
	level := *(*uint32)(unsafe.Pointer(&b[0]))
	flags := *(*int32)(unsafe.Pointer(&b[16]))
	if level != 1 {
		return false, false
	}
	switch flags {
	case wtsStateLock:
		return true, true
	case wtsStateUnlock:
		return false, true
	}
	return false, false
}

// wtsSessionOf is the console session a Desktop found by the
// windowsDiscoverer names; ok is false for one found otherwise.
func wtsSessionOf(d *Desktop) (uint32, bool) {
	if d == nil || d.Session == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(d.Session, 10, 32)
	if err != nil || n == wtsNoSession {
		return 0, false
	}
	return uint32(n), true
}

// consoleUserToken is a primary token of session sid's user, for
// CreateProcessAsUser; the caller closes it. ErrNoDesktop: nobody is
// logged on there. WTSQueryUserToken needs LocalSystem (the service).
func consoleUserToken(sid uint32) (windows.Token, error) {
	var user windows.Token
	if err := windows.WTSQueryUserToken(sid, &user); err != nil {
		if errors.Is(err, windows.ERROR_NO_TOKEN) {
			return 0, ErrNoDesktop
		}
		return 0, fmt.Errorf("agent: the console user's token (session %d): %w", sid, err)
	}
	defer user.Close()
	var primary windows.Token
	if err := windows.DuplicateTokenEx(user, windows.MAXIMUM_ALLOWED, nil, windows.SecurityIdentification,
		windows.TokenPrimary, &primary); err != nil {
		return 0, fmt.Errorf("agent: duplicating the console user's token: %w", err)
	}
	return primary, nil
}
