package portal

import (
	"net/http"

	"github.com/tandem-rc/tandem/relay/webconsole"
)

// routesConsole mounts the browser support console (relay/webconsole) at
// /console/: it shares the Portal's session cookie, CSP and cross-origin
// protection.
func (p *Portal) routesConsole(mux *http.ServeMux) {
	p.console = webconsole.New(webconsole.Config{API: p.cfg.API, Cookie: sessionCookie, Logger: p.log,
		Clock: p.cfg.Clock, Refusals: p.cfg.ConsoleRefusals})
	mux.Handle(webconsole.Prefix, p.console)
}
