package portal

import "time"

// LocalNext exposes localNext to the external tests.
var LocalNext = localNext

// SetLiveTiming sets the live queue's poll, heartbeat and stream lifetime.
func SetLiveTiming(p *Portal, poll, heartbeat, lifetime time.Duration) {
	p.live.poll, p.live.heartbeat, p.live.lifetime = poll, heartbeat, lifetime
}
