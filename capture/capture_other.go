//go:build !linux && !windows && !darwin

package capture

import (
	"errors"
	"fmt"
	"runtime"
)

func open(Options) (Capturer, error) {
	return nil, fmt.Errorf("capture: screen capture on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
