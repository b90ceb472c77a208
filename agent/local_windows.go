package agent

import (
	"errors"
	"fmt"
)

// OpenInputLocker and OpenScreenBlanker are not implemented on Windows
// yet: sessions answer these requests with an error (the clipboard is in
// clipboard_windows.go).
func OpenInputLocker(LocalOptions) (InputLocker, error) {
	return nil, fmt.Errorf("agent: locking local input on Windows: %w", errors.ErrUnsupported)
}

func OpenScreenBlanker(LocalOptions) (ScreenBlanker, error) {
	return nil, fmt.Errorf("agent: blanking the screen on Windows: %w", errors.ErrUnsupported)
}
