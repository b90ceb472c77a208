package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The Windows clipboard of the desktop this process runs on (the
// foreground `run`, or the service's desktop helper): text as
// CF_UNICODETEXT. Windows numbers every clipboard change
// (GetClipboardSequenceNumber): a session knows the number its own text
// got, every session's numbers are kept process-wide so no session reads
// or forwards another's text, and local copies are found by polling that
// number (cheap: no window or message loop needed).

var (
	clipUser32          = windows.NewLazySystemDLL("user32.dll")
	procOpenClipboard   = clipUser32.NewProc("OpenClipboard")
	procCloseClipboard  = clipUser32.NewProc("CloseClipboard")
	procEmptyClipboard  = clipUser32.NewProc("EmptyClipboard")
	procGetClipData     = clipUser32.NewProc("GetClipboardData")
	procSetClipData     = clipUser32.NewProc("SetClipboardData")
	procClipSeq         = clipUser32.NewProc("GetClipboardSequenceNumber")
	clipKernel32        = windows.NewLazySystemDLL("kernel32.dll")
	procGlobalAlloc     = clipKernel32.NewProc("GlobalAlloc")
	procGlobalFree      = clipKernel32.NewProc("GlobalFree")
	procGlobalLock      = clipKernel32.NewProc("GlobalLock")
	procGlobalUnlock    = clipKernel32.NewProc("GlobalUnlock")
	procGlobalSize      = clipKernel32.NewProc("GlobalSize")
	sessionClipboards   sync.Map // sequence number → the text a session offered
	clipPoll            = 250 * time.Millisecond
	errClipboardNotOpen = errors.New("agent: clipboard: another program holds it open")
)

const (
	cfUnicodeText = 13
	gmemMoveable  = 0x0002
)

type winClipboard struct {
	log     *slog.Logger
	changes chan string
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu   sync.Mutex
	own  uint32 // the sequence number of this session's text; 0: none
	text string // this session's text
}

// OpenClipboard opens this desktop's clipboard for one session.
func OpenClipboard(o LocalOptions) (Clipboard, error) {
	if err := procClipSeq.Find(); err != nil {
		return nil, fmt.Errorf("agent: clipboard: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &winClipboard{log: log, changes: make(chan string, 1), done: make(chan struct{})}
	c.wg.Add(1)
	go c.watch(clipSeq())
	return c, nil
}

// globalPtr is GlobalLock's address as a pointer: the memory is the
// system's, not Go's, and stays put while locked.
func globalPtr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func clipSeq() uint32 { r, _, _ := procClipSeq.Call(); return uint32(r) }

// withClipboard runs f with the clipboard open on a locked thread (the
// clipboard belongs to the thread that opened it), retrying a moment while
// another program holds it.
func withClipboard(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; ; i++ {
		if r, _, _ := procOpenClipboard.Call(0); r != 0 {
			break
		}
		if i == 20 {
			return errClipboardNotOpen
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer procCloseClipboard.Call()
	return f()
}

func (c *winClipboard) Set(text string) error {
	if len(text) > MaxClipboard {
		return ErrClipboardTooLarge
	}
	if !utf8.ValidString(text) {
		return errors.New("agent: clipboard text is not valid UTF-8")
	}
	u := utf16.Encode([]rune(strings.ReplaceAll(text, "\x00", "")))
	u = append(u, 0)
	err := withClipboard(func() error {
		if r, _, err := procEmptyClipboard.Call(); r == 0 {
			return fmt.Errorf("agent: clipboard: empty: %w", err)
		}
		h, _, err := procGlobalAlloc.Call(gmemMoveable, uintptr(len(u)*2))
		if h == 0 {
			return fmt.Errorf("agent: clipboard: %w", err)
		}
		p, _, err := procGlobalLock.Call(h)
		if p == 0 {
			procGlobalFree.Call(h)
			return fmt.Errorf("agent: clipboard: %w", err)
		}
		copy(unsafe.Slice((*uint16)(globalPtr(p)), len(u)), u)
		procGlobalUnlock.Call(h)
		if r, _, err := procSetClipData.Call(cfUnicodeText, h); r == 0 {
			procGlobalFree.Call(h) // still ours when SetClipboardData fails
			return fmt.Errorf("agent: clipboard: set: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	seq := clipSeq()
	sessionClipboards.Store(seq, text)
	c.mu.Lock()
	if c.own != 0 {
		sessionClipboards.Delete(c.own)
	}
	c.own, c.text = seq, text
	c.mu.Unlock()
	return nil
}

// read returns the clipboard's text ("" with ok false when it holds none).
func readClipboard() (text string, ok bool, err error) {
	err = withClipboard(func() error {
		h, _, _ := procGetClipData.Call(cfUnicodeText)
		if h == 0 {
			return nil // no text (an image, or empty)
		}
		p, _, _ := procGlobalLock.Call(h)
		if p == 0 {
			return nil
		}
		defer procGlobalUnlock.Call(h)
		size, _, _ := procGlobalSize.Call(h)
		n := int(size / 2)
		if n > MaxClipboard {
			n = MaxClipboard // bounded: a local program may hold anything
		}
		u := unsafe.Slice((*uint16)(globalPtr(p)), n)
		for i, v := range u {
			if v == 0 {
				u = u[:i]
				break
			}
		}
		text, ok = string(utf16.Decode(u)), true
		return nil
	})
	return text, ok, err
}

// sessionText says whether the clipboard now holds what a session offered:
// its number is a session's, or (Wine and clipboard managers re-announce
// text they took over) its text is one a session offered.
func sessionText(seq uint32, text string) bool {
	if _, ok := sessionClipboards.Load(seq); ok {
		return true
	}
	found := false
	sessionClipboards.Range(func(_, v any) bool {
		found = v.(string) == text
		return !found
	})
	return found
}

func (c *winClipboard) Get(ctx context.Context) (string, error) {
	seq := clipSeq()
	c.mu.Lock()
	mine := c.own != 0 && c.own == seq
	c.mu.Unlock()
	text, ok, err := readClipboard()
	if err != nil || !ok {
		return "", err
	}
	if !mine && sessionText(seq, text) {
		return "", nil // another session's
	}
	return text, nil
}

func (c *winClipboard) Changes() <-chan string { return c.changes }

// watch forwards what local programs copy: a new sequence number whose
// text no session offered.
func (c *winClipboard) watch(last uint32) {
	defer c.wg.Done()
	defer close(c.changes)
	t := time.NewTicker(clipPoll)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		seq := clipSeq()
		if seq == last {
			continue
		}
		last = seq
		text, ok, err := readClipboard()
		if err != nil || !ok || sessionText(seq, text) {
			continue
		}
		select { // newest first: replace an unread older copy
		case <-c.changes:
		default:
		}
		c.changes <- text
	}
}

// Close withdraws this session's text if the clipboard still holds it.
func (c *winClipboard) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		c.wg.Wait()
		c.mu.Lock()
		own, mine := c.own, c.text
		c.own, c.text = 0, ""
		c.mu.Unlock()
		if own == 0 {
			return
		}
		// Still this session's: its number, or its text re-announced
		// under a number no other session gave it.
		seq := clipSeq()
		text, ok, _ := readClipboard()
		if other, taken := sessionClipboards.Load(seq); seq == own || ok && text == mine && (!taken || other == mine) {
			err = withClipboard(func() error {
				if r, _, e := procEmptyClipboard.Call(); r == 0 {
					return fmt.Errorf("agent: clipboard: withdraw: %w", e)
				}
				return nil
			})
		}
		sessionClipboards.Delete(own)
	})
	return err
}
