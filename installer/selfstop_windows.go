package installer

import "github.com/kardianos/service"

// selfStop asks the service control manager to stop us: a Windows
// service's Run loop ends only on a control request.
func selfStop(s service.Service) { go func() { _ = s.Stop() }() }
