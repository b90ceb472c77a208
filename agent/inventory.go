package agent

import (
	"os"
	"runtime"

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
