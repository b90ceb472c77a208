package capture

import "image"

// UsingSHM reports whether c grabs through MIT-SHM.
func UsingSHM(c Capturer) bool {
	x, ok := c.(*x11Capturer)
	return ok && x.usingSHM()
}

// SHMID returns the System V id of c's shared segment, or -1.
func SHMID(c Capturer) int {
	x, ok := c.(*x11Capturer)
	if !ok {
		return -1
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.shmID
}

// CRTCMonitors lists monitors the RandR 1.3 way (CRTCs), as used when the
// server lacks RandR 1.5 monitors.
func CRTCMonitors(c Capturer) ([]Monitor, error) {
	x := c.(*x11Capturer)
	x.mu.Lock()
	defer x.mu.Unlock()
	ms, err := x.crtcMonitors()
	return primaryFallback(ms), err
}

// SetBounds overwrites c's idea of the screen size, as if a RandR notify
// were late.
func SetBounds(c Capturer, r image.Rectangle) {
	x := c.(*x11Capturer)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.bounds = r
}
