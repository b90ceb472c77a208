//go:build windows

package agent

import (
	"errors"
	"image"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	user32           = windows.NewLazySystemDLL("user32.dll")
	procGetWindowRct = user32.NewProc("GetWindowRect")
	procIsIconic     = user32.NewProc("IsIconic")
	procGetCursorPos = user32.NewProc("GetCursorPos")
	procGetAncestor  = user32.NewProc("GetAncestor")
	enumCallback     = windows.NewCallback(enumProc)
	enumMu           sync.Mutex
	enumInto         *[]windows.HWND
)

const gaRoot = 2

// win32Windows enumerates top-level windows with EnumWindows (top to bottom
// in z-order) and resolves each window's process image with
// GetWindowThreadProcessId and QueryFullProcessImageName.
type win32Windows struct{}

func openWindows(WindowsOptions) (Windows, error) { return win32Windows{}, nil }

func enumProc(h windows.HWND, _ uintptr) uintptr {
	*enumInto = append(*enumInto, h)
	return 1
}

func (win32Windows) List() ([]TopWindow, error) {
	var hs []windows.HWND
	enumMu.Lock()
	enumInto = &hs
	err := windows.EnumWindows(enumCallback, nil)
	enumInto = nil
	enumMu.Unlock()
	if err != nil {
		return nil, err
	}
	slices.Reverse(hs) // bottom to top
	out := make([]TopWindow, 0, len(hs))
	for _, h := range hs {
		if !windows.IsWindowVisible(h) {
			continue
		}
		if r, _, _ := procIsIconic.Call(uintptr(h)); r != 0 {
			continue
		}
		var rc struct{ Left, Top, Right, Bottom int32 }
		if r, _, _ := procGetWindowRct.Call(uintptr(h), uintptr(unsafe.Pointer(&rc))); r == 0 {
			continue
		}
		out = append(out, TopWindow{ID: uint64(h), Rect: image.Rect(int(rc.Left), int(rc.Top), int(rc.Right), int(rc.Bottom)), Exe: imageName(h)})
	}
	return out, nil
}

// imageName is the full path of the executable that owns h; "" when the
// process cannot be opened (an elevated process seen from a user session).
func imageName(h windows.HWND) string {
	var pid uint32
	if _, err := windows.GetWindowThreadProcessId(h, &pid); err != nil || pid == 0 {
		return ""
	}
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return ""
	}
	defer windows.CloseHandle(p)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(p, 0, &buf[0], &n); err != nil {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}

func (win32Windows) Focused() (uint64, error) {
	h := windows.GetForegroundWindow()
	if h == 0 {
		return 0, nil
	}
	root, _, _ := procGetAncestor.Call(uintptr(h), gaRoot)
	return uint64(root), nil
}

func (win32Windows) Pointer() (image.Point, error) {
	var pt struct{ X, Y int32 }
	if r, _, err := procGetCursorPos.Call(uintptr(unsafe.Pointer(&pt))); r == 0 {
		return image.Point{}, errors.Join(errors.New("windows: cursor position"), err)
	}
	return image.Pt(int(pt.X), int(pt.Y)), nil
}

func (win32Windows) Close() error { return nil }

func samePath(a, b string) bool { return strings.EqualFold(a, b) }
