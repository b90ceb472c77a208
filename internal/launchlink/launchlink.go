// Package launchlink reads and writes tandem:// links: the Portal's "Remote
// control" on My devices opens the desktop Guest with one (the Guest's
// .desktop file registers x-scheme-handler/tandem). A link comes from a web
// page, so it is hostile input: it carries a relay URL and a device id and
// nothing else, and anything unexpected refuses the whole link.
//
//	tandem://connect?relay=https%3A%2F%2Frelay.example.com&device=<uuid>
package launchlink

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Scheme is the URL scheme the Guest handles.
const Scheme = "tandem"

// MaxLen bounds a link (the longest real one is well under 400 bytes).
const MaxLen = 1024

// Link is what a tandem:// link asks: open Device on Relay.
type Link struct {
	Relay  string // scheme://host[:port], no path
	Device string // a device id (UUID)
}

var deviceID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ErrRefused wraps every reason a link is refused.
var ErrRefused = errors.New("launchlink: link refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, a...)...)
}

// Build is the link that opens device on relay (a relay URL as Parse
// accepts it).
func Build(relay, device string) string {
	q := url.Values{"relay": {strings.TrimRight(relay, "/")}, "device": {device}}
	return Scheme + "://connect?" + q.Encode()
}

// Valid reports whether Parse accepts raw.
func Valid(raw string) bool { _, err := Parse(raw); return err == nil }

// Parse reads a tandem:// link strictly.
func Parse(raw string) (Link, error) {
	if len(raw) > MaxLen {
		return Link{}, refuse("longer than %d bytes", MaxLen)
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return Link{}, refuse("a space, control or non-ASCII character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Link{}, refuse("not a URL")
	}
	if u.Scheme != Scheme || u.Opaque != "" || u.User != nil || u.Host != "connect" ||
		(u.Path != "" && u.Path != "/") || u.Fragment != "" || u.RawFragment != "" {
		return Link{}, refuse("not a tandem://connect link")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Link{}, refuse("a malformed query")
	}
	for k, v := range q {
		if (k != "relay" && k != "device") || len(v) != 1 {
			return Link{}, refuse("unexpected or repeated parameter %.20q", k)
		}
	}
	relay, err := relayURL(q.Get("relay"))
	if err != nil {
		return Link{}, err
	}
	dev := q.Get("device")
	if !deviceID.MatchString(dev) {
		return Link{}, refuse("not a device id")
	}
	return Link{Relay: relay, Device: dev}, nil
}

// relayURL accepts http(s)://host[:port][/] and nothing more (no user,
// path, query or fragment), normalised without the slash.
func relayURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.ContainsAny(u.Host, "\\@") {
		return "", refuse("the relay is not an http(s)://host[:port] address")
	}
	if port := u.Port(); port != "" {
		if len(port) > 5 || strings.TrimLeft(port, "0123456789") != "" || port[0] == '0' {
			return "", refuse("a bad relay port")
		}
	}
	if u.Hostname() == "" {
		return "", refuse("no relay host")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}

// SameRelay reports whether two relay URLs name the same relay.
func SameRelay(a, b string) bool {
	na, err1 := relayURL(a)
	nb, err2 := relayURL(b)
	return err1 == nil && err2 == nil && na == nb
}
