package guest

import (
	"image"
	"image/draw"
	"sync"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Watcher receives a session's events for a viewer attached after Connect:
// the console opens its window on a session another part connected, so
// ConnectOptions' callbacks are already taken. The callbacks run on the
// session's receive goroutines and must not block; nil ones are skipped.
type Watcher struct {
	Frame     func(FrameEvent)
	Clipboard func(text string)
	// Refused is told of the host's refusals and failures (wire.Error) on
	// the control and input channels, e.g. input without keyboard_mouse.
	// Calls that wait for their answer (Power, Chat.Send, Files, Exec)
	// also return theirs.
	Refused func(*wire.Error)
	// Cursor is told when the host's pointer moved or changed shape (see
	// Session.Cursor and DrawCursor).
	Cursor func(Cursor)
}

type watchers struct {
	mu   sync.Mutex
	next int
	m    map[int]Watcher
}

// Watch adds w to the session's watchers until stop is called.
func (s *Session) Watch(w Watcher) (stop func()) {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	if s.watch.m == nil {
		s.watch.m = map[int]Watcher{}
	}
	id := s.watch.next
	s.watch.next++
	s.watch.m[id] = w
	return func() {
		s.watch.mu.Lock()
		delete(s.watch.m, id)
		s.watch.mu.Unlock()
	}
}

func (s *Session) watching() []Watcher {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	ws := make([]Watcher, 0, len(s.watch.m))
	for _, w := range s.watch.m {
		ws = append(ws, w)
	}
	return ws
}

func (s *Session) notifyFrame(ev FrameEvent) {
	for _, w := range s.watching() {
		if w.Frame != nil {
			w.Frame(ev)
		}
	}
}

func (s *Session) notifyCursor() {
	ws := s.watching()
	if len(ws) == 0 {
		return
	}
	c, ok := s.cursor.get()
	if !ok {
		return
	}
	for _, w := range ws {
		if w.Cursor != nil {
			w.Cursor(c)
		}
	}
}

func (s *Session) notifyClipboard(text string) {
	for _, w := range s.watching() {
		if w.Clipboard != nil {
			w.Clipboard(text)
		}
	}
}

func (s *Session) notifyRefused(e *wire.Error) {
	for _, w := range s.watching() {
		if w.Refused != nil {
			w.Refused(e)
		}
	}
}

// CopyScreen copies the current screen into dst, reusing it when its
// bounds match (a viewer redraws every frame without allocating), and
// returns it with the screen's origin in the host's root coordinates. ok
// is false until a full screen has been decoded. It never waits.
func (s *Session) CopyScreen(dst *image.RGBA) (img *image.RGBA, origin image.Point, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.keyframe {
		return dst, image.Point{}, false
	}
	src := s.dec.Image()
	if dst == nil || dst.Bounds() != src.Bounds() {
		dst = image.NewRGBA(src.Bounds())
	}
	if len(dst.Pix) == len(src.Pix) && dst.Stride == src.Stride {
		copy(dst.Pix, src.Pix)
	} else {
		draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
	}
	return dst, s.origin, true
}
