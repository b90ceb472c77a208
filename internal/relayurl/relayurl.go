// Package relayurl decides whether a relay URL may be used: https (wss)
// always; plain http (ws) only to a loopback relay, or when the operator
// explicitly accepts that passwords, tokens, grants and enrollment keys
// cross the network in clear (--insecure-http), which is then logged at
// every start. The Host, the Guest (command line and console) and the
// OnDemand agent all check through here.
package relayurl

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
)

// ErrInsecure is returned for a plain-http relay that is not on loopback.
var ErrInsecure = errors.New("plain http to a relay that is not on this machine")

// FlagName is the option that accepts such a relay.
const FlagName = "insecure-http"

// Check parses raw and refuses what may not be used; insecure accepts
// plain http to any host.
func Check(raw string, insecure bool) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return fmt.Errorf("relay URL %q must look like https://relay.example.com", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return nil
	case "http", "ws":
	default:
		return fmt.Errorf("relay URL %q must look like https://relay.example.com", raw)
	}
	if insecure || Loopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("relay URL %s: %w: passwords, keys and session grants would travel unencrypted; "+
		"use the relay's https:// address, or accept the risk with --%s", u.Redacted(), ErrInsecure, FlagName)
}

// Insecure reports whether raw is plain http to a host off this machine
// (what Check refuses without insecure).
func Insecure(raw string) bool {
	return errors.Is(Check(raw, false), ErrInsecure)
}

// Allow is Check that, when insecure is what lets raw through, warns on
// log: meant to be called at every start.
func Allow(raw string, insecure bool, log *slog.Logger) error {
	if err := Check(raw, insecure); err != nil {
		return err
	}
	if insecure && Insecure(raw) && log != nil {
		log.Warn("the relay is reached over plain http (--"+FlagName+"): passwords, keys and session grants travel unencrypted; "+
			"anyone on the network path can read or change them", "relay", raw)
	}
	return nil
}

// Loopback reports whether host names this machine: localhost (and
// *.localhost, RFC 6761) or a loopback address.
func Loopback(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
