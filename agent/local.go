package agent

import (
	"context"
	"errors"
	"log/slog"
)

// Clipboard is the local clipboard as one session sees it (text only).
// Each session opens its own: text a technician offered belongs to that
// session, is never offered to another session's technician, and is
// withdrawn from the machine when the session's Clipboard closes.
type Clipboard interface {
	// Set offers text as the local clipboard until a local application
	// copies something else or Close.
	Set(text string) error
	// Get returns the local clipboard's text: "" when it is empty, holds no
	// text, or holds text another session offered.
	Get(ctx context.Context) (string, error)
	// Changes delivers text a local application copied (never text a
	// session offered), newest first; it is closed by Close.
	Changes() <-chan string
	Close() error
}

// InputLocker blocks the local keyboard and mouse while the technician
// works. Injected input must still reach applications: the session runs
// each injection through Around.
type InputLocker interface {
	Lock() error
	Unlock() error
	// Around runs inject so that its events reach applications even while
	// locked.
	Around(inject func() error) error
	// Close unlocks, always.
	Close() error
}

// ScreenBlanker turns the local monitor black while capture still sees the
// desktop.
type ScreenBlanker interface {
	Blank(on bool) error
	// Close restores the screen, always.
	Close() error
}

// LocalOptions select the local desktop the platform openers use.
type LocalOptions struct {
	Display string // X11 display; "" means $DISPLAY
	Logger  *slog.Logger
}

// MaxClipboard bounds clipboard text both ways (the wire limit).
const MaxClipboard = 1 << 20

// ErrClipboardTooLarge is returned for text over MaxClipboard.
var ErrClipboardTooLarge = errors.New("agent: clipboard text exceeds 1 MiB")
