//go:build !windows

package installer

import "github.com/kardianos/service"

// selfStop: on Unix the RunWait hook returns when the run function ends.
func selfStop(service.Service) {}

// runManaged runs s under the service manager.
func runManaged(s service.Service, _ string) error { return s.Run() }
