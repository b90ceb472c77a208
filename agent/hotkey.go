package agent

// Hotkey is the global Ctrl+Shift+X that ends an OnDemand session at once,
// without confirmation (spec 3.2.3): it fires whichever window has the
// focus. C receives once per press (presses while nobody reads are
// coalesced); Close releases the key. OpenHotkey(display) opens it on the
// platform's desktop; where there is none it returns an error wrapping
// errors.ErrUnsupported.
type Hotkey interface {
	C() <-chan struct{}
	Close() error
}
