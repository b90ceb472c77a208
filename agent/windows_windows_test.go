//go:build windows

package agent

import (
	"path/filepath"
	"testing"
)

// A smoke run of the Win32 enumeration (under Wine in CI, natively on
// Windows): it lists, every executable it reports is an absolute path, and
// focus and pointer queries answer.
func TestWin32Windows(t *testing.T) {
	w, err := OpenWindows(WindowsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wins, err := w.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, win := range wins {
		if win.Exe != "" && !filepath.IsAbs(win.Exe) {
			t.Errorf("window %#x: executable %q is not an absolute path", win.ID, win.Exe)
		}
		t.Logf("window %#x %v %q", win.ID, win.Rect, win.Exe)
	}
	if _, err := w.Focused(); err != nil {
		t.Error(err)
	}
	if _, err := w.Pointer(); err != nil {
		t.Error(err)
	}
}
