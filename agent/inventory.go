package agent

import (
	"context"
	"os"
	"runtime"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/transport/wire"
)

// DefaultInventory describes this machine. Monitors come from a capturer
// opened for the moment (nil opener: none reported).
func DefaultInventory(version string, open func() (capture.Capturer, error)) func() *wire.Inventory {
	return func() *wire.Inventory {
		host, _ := os.Hostname()
		inv := &wire.Inventory{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, Version: version,
			User: os.Getenv("USER")}
		if open != nil {
			if c, err := open(); err == nil {
				if mons, err := c.Monitors(); err == nil {
					for _, m := range mons {
						inv.Monitors = append(inv.Monitors, wire.MonitorInfo{Name: m.Name, X: int32(m.X), Y: int32(m.Y),
							Width: int32(m.Width), Height: int32(m.Height), Primary: m.Primary})
					}
				}
				c.Close()
			}
		}
		return inv
	}
}

// DesktopInventory is DefaultInventory for a host that follows the
// graphical session: at each (re)connection it finds the desktop again and
// reports its user and lock state (no user when nobody is logged in).
func DesktopInventory(version string, t *DesktopTracker, open func() (capture.Capturer, error)) func() *wire.Inventory {
	base := DefaultInventory(version, open)
	return func() *wire.Inventory {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := t.Discover(ctx)
		inv := base()
		inv.User = ""
		if err == nil && !d.NoUser {
			inv.User, inv.Locked = d.User, d.Locked
		}
		return inv
	}
}
