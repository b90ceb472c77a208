package agent

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	hkUser32             = windows.NewLazySystemDLL("user32.dll")
	procRegisterHotKey   = hkUser32.NewProc("RegisterHotKey")
	procUnregisterHotKey = hkUser32.NewProc("UnregisterHotKey")
	procGetMessageW      = hkUser32.NewProc("GetMessageW")
	procPostThreadMsgW   = hkUser32.NewProc("PostThreadMessageW")
)

const (
	modControl  = 0x0002
	modShift    = 0x0004
	modNoRepeat = 0x4000
	wmHotkey    = 0x0312
	wmQuit      = 0x0012
	hotkeyID    = 0x7a4d
)

type winMsg struct {
	hwnd    uintptr
	message uint32
	wParam  uintptr
	lParam  uintptr
	time    uint32
	pt      [2]int32
	private uint32
}

// winHotkey registers Ctrl+Shift+X with RegisterHotKey on a thread of its
// own, whose message loop receives WM_HOTKEY.
type winHotkey struct {
	c      chan struct{}
	thread uint32
	done   chan struct{}
	once   sync.Once
}

// OpenHotkey registers Ctrl+Shift+X for this process (display is unused).
func OpenHotkey(string) (Hotkey, error) {
	h := &winHotkey{c: make(chan struct{}, 1), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		// The hotkey belongs to the thread that registered it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(h.done)
		h.thread = windows.GetCurrentThreadId()
		r, _, err := procRegisterHotKey.Call(0, hotkeyID, modControl|modShift|modNoRepeat, 'X')
		if r == 0 {
			ready <- fmt.Errorf("agent: hotkey: Ctrl+Shift+X is already taken by another program: %w", err)
			return
		}
		defer procUnregisterHotKey.Call(0, hotkeyID)
		ready <- nil
		var m winMsg
		for {
			r, _, _ := procGetMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
			if int32(r) <= 0 { // WM_QUIT or an error
				return
			}
			if m.message == wmHotkey && m.wParam == hotkeyID {
				select {
				case h.c <- struct{}{}:
				default:
				}
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return h, nil
}

func (h *winHotkey) C() <-chan struct{} { return h.c }

// Close unregisters the hotkey and ends its thread. Idempotent.
func (h *winHotkey) Close() error {
	var err error
	h.once.Do(func() {
		if r, _, e := procPostThreadMsgW.Call(uintptr(h.thread), wmQuit, 0, 0); r == 0 {
			err = errors.Join(errors.New("agent: hotkey: stop"), e)
			return
		}
		<-h.done
	})
	return err
}
