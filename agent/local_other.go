//go:build !linux && !windows

package agent

import (
	"errors"
	"fmt"
)

// OpenClipboard, OpenInputLocker and OpenScreenBlanker are implemented for
// X11 only so far: elsewhere sessions answer these requests with an error.
func OpenClipboard(LocalOptions) (Clipboard, error) {
	return nil, fmt.Errorf("agent: clipboard on this platform: %w", errors.ErrUnsupported)
}

func OpenInputLocker(LocalOptions) (InputLocker, error) {
	return nil, fmt.Errorf("agent: locking local input on this platform: %w", errors.ErrUnsupported)
}

func OpenScreenBlanker(LocalOptions) (ScreenBlanker, error) {
	return nil, fmt.Errorf("agent: blanking the screen on this platform: %w", errors.ErrUnsupported)
}
