// Package guard holds the relay's defences against guessing and floods:
// budgets with growing delays per (user, source), one-at-a-time login
// evaluation per user, a cap on concurrent password hashing, remembered
// sources, and the aggregation of refusals for the audit log. Every
// structure here is bounded in memory whatever the callers send.
package guard

import (
	"errors"
	"net/netip"
)

// ErrBusy is returned when a bounded queue is full: the caller answers
// 503 (or 429) with Retry-After instead of queueing without bound.
var ErrBusy = errors.New("guard: too many requests at once")

// Source is the budget key of a client address: an IPv4 address as it is,
// an IPv6 address by its /64 (one subscriber gets a whole /64, so keying
// by address would hand out millions of fresh budgets). An IPv4-mapped
// IPv6 address counts as the IPv4 one. Anything unparsable is kept as is.
func Source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
