package main

import (
	"log/slog"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relayurl"
)

// checkRelay refuses a configuration's plain-http relay off this machine
// unless --insecure-http was given now or at enrollment (then it warns).
func checkRelay(c *installer.Config, insecure bool, log *slog.Logger) error {
	return relayurl.Allow(c.RelayURL, c.InsecureHTTP || insecure, log)
}

// saveInsecure records --insecure-http in the saved configuration, so the
// service's later starts accept (and warn about) the plain-http relay.
func saveInsecure(dir string, c *installer.Config, insecure bool) error {
	if !insecure || c.InsecureHTTP || !relayurl.Insecure(c.RelayURL) {
		return nil
	}
	c.InsecureHTTP = true
	return installer.Save(dir, c)
}
