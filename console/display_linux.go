package console

import (
	"errors"
	"os"
)

// checkDisplay fails clearly where Fyne would panic: no X11 or Wayland
// display to open the window on.
func checkDisplay() error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("console: no display (DISPLAY and WAYLAND_DISPLAY are unset): run it in a desktop session, or use the subcommands (tandem-guest --help)")
	}
	return nil
}
