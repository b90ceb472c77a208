//go:build linux && !cgo

package capture

import (
	"errors"
	"fmt"
)

// openMutter: PipeWire frames need libpipewire (cgo).
func openMutter(Options) (Capturer, error) {
	return nil, fmt.Errorf("capture: GNOME (Mutter) capture needs a cgo build with libpipewire: %w", errors.ErrUnsupported)
}
