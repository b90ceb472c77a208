package installer

import (
	"github.com/kardianos/service"
	"golang.org/x/sys/windows/svc"
)

// selfStop asks the service control manager to stop us: a Windows
// service's Run loop ends only on a control request.
func selfStop(s service.Service) { go func() { _ = s.Stop() }() }

// runManaged runs s under the service control manager. `run --service` is
// set only by the service definition, so this process is a service even
// when svc.IsWindowsService cannot tell (under Wine, where services.exe
// runs in session 1, kardianos would run it as a console program and the
// manager would give up on it): its handler goes to svc.Run directly.
func runManaged(s service.Service, name string) error {
	h, ok := s.(svc.Handler)
	if !ok || !service.Interactive() {
		return s.Run()
	}
	return svc.Run(name, h)
}
