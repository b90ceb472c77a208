//go:build linux

package input

import "testing"

// TestUSKey: every printable ASCII character and Enter/Tab has a US key
// that the key table knows; nothing else has one.
func TestUSKey(t *testing.T) {
	for r := rune(0x20); r < 0x7f; r++ {
		code, _, ok := usKey(r)
		if _, known := keyTable[code]; !ok || !known {
			t.Errorf("%q: %q %v", r, code, ok)
		}
	}
	for r, want := range map[rune]string{'\n': "Enter", '\t': "Tab", '"': "Quote", '~': "Backquote", ')': "Digit0", '\\': "Backslash", '|': "Backslash"} {
		if code, _, _ := usKey(r); code != want {
			t.Errorf("%q: %q, want %q", r, code, want)
		}
	}
	for _, r := range []rune{'é', '☺', 0x7f, 0} {
		if _, _, ok := usKey(r); ok {
			t.Errorf("%q has a US key", r)
		}
	}
}
