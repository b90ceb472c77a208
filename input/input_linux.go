//go:build linux && cgo

package input

// Linux/X11 back end.
//
// Mouse: robotgo (Move = XWarpPointer, Toggle = XTest buttons 1–3, Scroll =
// XTest buttons 4–7). robotgo has no Back/Forward buttons; those are XTest
// buttons 8/9 on our own connection.
//
// Keyboard: our own XTest calls on our own connection, because robotgo
// v1.1.0 on X11 is unusable for physical keys:
//   - it maps key names to keysyms and keysyms to keycodes through the active
//     layout, so codes are not physical positions on non-US layouts;
//   - its numpad operators are macOS keycodes used as keysyms ("num+" is
//     keysym 78 = 'N', "num-" 'J', "num*" '7', "num/" 'b', "num_enter" '`');
//   - a keysym the keymap lacks (e.g. "audio_random" under Xvfb) becomes
//     keycode 0, XTest answers BadValue and Xlib's default handler exits the
//     process;
//   - Type() opens a second connection with XOpenDisplay(NULL) per non-ASCII
//     character, ignoring SetXDisplayName (SIGSEGV when $DISPLAY is unset),
//     overwrites keycode max-1 for good, and silently drops astral
//     characters (emoji).
// Keys are therefore resolved from the server's XKB key names (AC01 = the
// physical A position), and Type presses layout keys where the layout has the
// character and otherwise binds the keysym to a spare keycode.
//
// Robustness: Xlib's defaults exit the process on a protocol error or when
// the server goes away. We install process-wide (once) a non-fatal error
// handler and an IO error handler that returns, plus a per-connection IO exit
// handler on our connection and on robotgo's, so a vanished X server turns
// into errors, not an exit. Other Xlib connections of the process keep
// Xlib's default exit on IO errors.

/*
#cgo LDFLAGS: -lX11 -lXtst
#include <stdlib.h>
#include <string.h>
#include <X11/Xlib.h>
#include <X11/XKBlib.h>
#include <X11/extensions/XTest.h>

static int tdm_last_error;

static int tdm_error_handler(Display *d, XErrorEvent *e) {
	(void)d;
	tdm_last_error = e->error_code;
	return 0;
}

// Xlib's default IO error handler prints and exits; ours returns, after which
// Xlib calls the connection's IO exit handler: the default one still exits,
// ours (tdm_io_exit) marks the connection dead.
static int tdm_io_error_handler(Display *d) {
	(void)d;
	return 0;
}

static void tdm_install_error_handlers(void) {
	XSetErrorHandler(tdm_error_handler);
	XSetIOErrorHandler(tdm_io_error_handler);
}

// Replaces Xlib's exit(1) when a connection breaks: mark it dead; Xlib then
// turns every later request on it into a no-op.
static void tdm_io_exit(Display *d, void *dead) {
	(void)d;
	*(volatile int *)dead = 1;
}

typedef struct {
	Display *dpy;
	int dead;
} tdm_conn;

// why: 1 cannot open, 2 no XTEST, 3 no XKB.
static tdm_conn *tdm_open(const char *name, int *why) {
	Display *d = XOpenDisplay(name);
	if (!d) { *why = 1; return NULL; }
	int ev, err, maj, min;
	if (!XTestQueryExtension(d, &ev, &err, &maj, &min)) { XCloseDisplay(d); *why = 2; return NULL; }
	int op;
	maj = XkbMajorVersion; min = XkbMinorVersion;
	if (!XkbQueryExtension(d, &op, &ev, &err, &maj, &min)) { XCloseDisplay(d); *why = 3; return NULL; }
	tdm_conn *c = calloc(1, sizeof *c);
	if (!c) { XCloseDisplay(d); *why = 1; return NULL; }
	c->dpy = d;
	XSetIOErrorExitHandler(d, tdm_io_exit, &c->dead);
	return c;
}

static void tdm_close(tdm_conn *c) {
	XCloseDisplay(c->dpy); // skips the final round trip if the connection is dead
	free(c);
}

// Round trip; returns 0, the X error code of a failed request, or -1 if the
// connection is dead. Callers reset tdm_last_error before their requests.
static int tdm_sync(tdm_conn *c) {
	if (c->dead) return -1;
	XSync(c->dpy, False);
	if (c->dead) return -1;
	return tdm_last_error;
}

static int tdm_ping(tdm_conn *c) { tdm_last_error = 0; return tdm_sync(c); }

// Sends n key events (keycodes kc[i], press if down[i]) and syncs once.
static int tdm_keys(tdm_conn *c, const unsigned char *kc, const unsigned char *down, int n) {
	if (c->dead) return -1;
	tdm_last_error = 0;
	for (int i = 0; i < n; i++) XTestFakeKeyEvent(c->dpy, kc[i], down[i] ? True : False, CurrentTime);
	return tdm_sync(c);
}

static int tdm_button(tdm_conn *c, unsigned int b, int down) {
	if (c->dead) return -1;
	tdm_last_error = 0;
	XTestFakeButtonEvent(c->dpy, b, down ? True : False, CurrentTime);
	return tdm_sync(c);
}

// Binds keycode kc to sym on both shift levels (NoSymbol clears it).
static int tdm_remap(tdm_conn *c, int kc, KeySym sym) {
	if (c->dead) return -1;
	KeySym s[2] = {sym, sym};
	tdm_last_error = 0;
	XChangeKeyboardMapping(c->dpy, kc, 2, s, 1);
	return tdm_sync(c);
}

static int tdm_lock_mods(tdm_conn *c, unsigned int mask, unsigned int values) {
	if (c->dead) return -1;
	tdm_last_error = 0;
	XkbLockModifiers(c->dpy, XkbUseCoreKbd, mask, values);
	return tdm_sync(c);
}

static int tdm_state(tdm_conn *c, int *group, int *mods, int *locked) {
	if (c->dead) return -1;
	XkbStateRec st;
	tdm_last_error = 0;
	if (XkbGetState(c->dpy, XkbUseCoreKbd, &st) != Success || c->dead) return -1;
	*group = st.group;
	*mods = st.mods;
	*locked = st.locked_mods;
	return 0;
}

// The current core keyboard mapping; free with XFree.
static KeySym *tdm_mapping(tdm_conn *c, int *min, int *max, int *per) {
	if (c->dead) return NULL;
	XDisplayKeycodes(c->dpy, min, max);
	KeySym *m = XGetKeyboardMapping(c->dpy, (KeyCode)*min, *max - *min + 1, per);
	if (c->dead) { if (m) XFree(m); return NULL; }
	return m;
}

// Copies the XKB name of keycode k to names[k*4] and the key aliases as
// (alias, real) pairs of 4 bytes to aliases.
static int tdm_key_names(tdm_conn *c, char *names, char *aliases, int max_aliases, int *n_aliases) {
	*n_aliases = 0;
	if (c->dead) return -1;
	XkbDescPtr x = XkbGetMap(c->dpy, 0, XkbUseCoreKbd);
	if (!x) return -1;
	if (XkbGetNames(c->dpy, XkbKeyNamesMask | XkbKeyAliasesMask, x) != Success || !x->names || !x->names->keys) {
		XkbFreeKeyboard(x, 0, True);
		return -1;
	}
	for (int k = x->min_key_code; k <= x->max_key_code && k < 256; k++) memcpy(names + k * 4, x->names->keys[k].name, 4);
	int n = x->names->key_aliases ? x->names->num_key_aliases : 0;
	if (n > max_aliases) n = max_aliases;
	for (int i = 0; i < n; i++) {
		memcpy(aliases + i * 8, x->names->key_aliases[i].alias, 4);
		memcpy(aliases + i * 8 + 4, x->names->key_aliases[i].real, 4);
	}
	*n_aliases = n;
	XkbFreeKeyboard(x, 0, True);
	return 0;
}

static int tdm_query_keymap(tdm_conn *c, char *keys) {
	if (c->dead) return -1;
	tdm_last_error = 0;
	XQueryKeymap(c->dpy, keys);
	return tdm_sync(c);
}

// robotgo's own connection (robotgo/base/xdisplay_c.h). Weak, so a robotgo
// without it still links; the guard then degrades to pinging our connection.
extern Display *XGetMainDisplay(void) __attribute__((weak));
static int rg_dead;
static Display *rg_guarded;

// Opens robotgo's connection if needed, checks it is the display we asked for
// (robotgo silently falls back to $DISPLAY and ":0.0") and makes a lost
// server non-fatal on it. 0 ok, 1 lost, 2 no guard available, 3 cannot
// open, 4 robotgo opened another display.
static int tdm_guard_robotgo(tdm_conn *c) {
	if (!XGetMainDisplay) return 2;
	Display *d = XGetMainDisplay();
	if (!d) return 3;
	if (d != rg_guarded) {
		rg_dead = 0;
		rg_guarded = d;
		XSetIOErrorExitHandler(d, tdm_io_exit, &rg_dead);
	}
	if (strcmp(DisplayString(d), DisplayString(c->dpy)) != 0) return 4;
	return rg_dead ? 1 : 0;
}

static int tdm_robotgo_dead(void) { return rg_guarded != NULL && rg_dead; }
static void tdm_forget_robotgo(void) { rg_guarded = NULL; rg_dead = 0; }
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/go-vgo/robotgo"
)

var (
	// xmu serialises robotgo and every Xlib call of the process: neither is
	// goroutine-safe, and robotgo's connection is a process global.
	xmu          sync.Mutex
	xHandlerOnce sync.Once
	rgDisplay    string // the display robotgo's connection is set to
	rgUsers      int    // open X11 backends
)

// errDisplayLost is returned once the X server has gone away.
var errDisplayLost = errors.New("connection to the X server lost")

const (
	maxScratch = 16 // spare keycodes Type may rebind
	// scratchReuseAfter is how long a rebound keycode stays bound before it
	// is reused for another character. A client translates a key event with
	// the keymap it fetches *after* seeing MappingNotify, so rebinding the
	// same keycode again too soon can change a character it has not read
	// yet, and nothing tells us when it has. 100 ms was seen to be too
	// short for xterm on a loaded 2-core machine. Only reached with more than
	// maxScratch distinct off-layout characters in quick succession (then
	// about 0.5 s per maxScratch characters).
	scratchReuseAfter = 500 * time.Millisecond

	xShiftMask = 1 << 0
	xLockMask  = 1 << 1
	xMod3Mask  = 1 << 5
	xMod5Mask  = 1 << 7
)

type scratchSlot struct {
	kc   C.int
	sym  C.KeySym // 0 until we bind it
	used time.Time
}

type x11Backend struct {
	log      *slog.Logger
	display  string
	c        *C.tdm_conn
	keycodes map[string]uint8 // table code -> keycode, for keys this keyboard has
	shiftKC  uint8
	slots    []scratchSlot
	guarded  bool // robotgo's connection carries our IO exit handler
	closed   bool
}

func newBackend(display string, log *slog.Logger) (backend, error) {
	if display == "" {
		display = os.Getenv("DISPLAY")
	}
	if display == "" {
		return nil, errors.New("input: no X display: Options.Display and $DISPLAY are empty")
	}
	xmu.Lock()
	defer xmu.Unlock()
	xHandlerOnce.Do(func() { C.tdm_install_error_handlers() })

	cname := C.CString(display)
	var why C.int
	c := C.tdm_open(cname, &why)
	C.free(unsafe.Pointer(cname))
	if c == nil {
		switch why {
		case 2:
			return nil, fmt.Errorf("input: X display %q has no XTEST extension", display)
		case 3:
			return nil, fmt.Errorf("input: X display %q has no XKB extension", display)
		}
		return nil, fmt.Errorf("input: cannot open X display %q", display)
	}
	b := &x11Backend{log: log, display: display, c: c}
	fail := func(err error) (backend, error) {
		C.tdm_close(c)
		return nil, err
	}
	if err := b.loadKeycodes(); err != nil {
		return fail(err)
	}
	if err := b.findScratch(); err != nil {
		return fail(err)
	}
	rgUsers++
	if err := b.robotgo(); err != nil {
		rgUsers--
		b.releaseRobotgo()
		return fail(err)
	}
	log.Debug("input: opened X11 injector", "display", display, "keys", len(b.keycodes),
		"spareKeycodes", len(b.slots), "robotgoGuard", b.guarded)
	return b, nil
}

// loadKeycodes resolves every table code to a keycode through the server's
// XKB key names and aliases.
func (b *x11Backend) loadKeycodes() error {
	var names [256 * 4]C.char
	const maxAliases = 512
	aliases := make([]C.char, maxAliases*8)
	var n C.int
	if C.tdm_key_names(b.c, &names[0], &aliases[0], maxAliases, &n) != 0 {
		return fmt.Errorf("input: cannot read XKB key names of display %q", b.display)
	}
	byName := map[string]uint8{}
	name := func(p []C.char) string {
		bs := make([]byte, 0, 4)
		for _, ch := range p {
			if ch == 0 {
				break
			}
			bs = append(bs, byte(ch))
		}
		return string(bs)
	}
	for kc := 8; kc < 256; kc++ {
		if s := name(names[kc*4 : kc*4+4]); s != "" {
			if _, dup := byName[s]; !dup {
				byName[s] = uint8(kc)
			}
		}
	}
	for i := 0; i < int(n); i++ {
		alias, target := name(aliases[i*8:i*8+4]), name(aliases[i*8+4:i*8+8])
		if kc, ok := byName[target]; ok {
			if _, taken := byName[alias]; !taken {
				byName[alias] = kc
			}
		}
	}
	b.keycodes = map[string]uint8{}
	for code, def := range keyTable {
		if def.xkb == "" {
			continue
		}
		if kc, ok := byName[def.xkb]; ok {
			b.keycodes[code] = kc
		}
	}
	kc, ok := b.keycodes["ShiftLeft"]
	if !ok {
		if kc, ok = b.keycodes["ShiftRight"]; !ok {
			return fmt.Errorf("input: X display %q has no Shift key", b.display)
		}
	}
	b.shiftKC = kc
	return nil
}

// keymap is a snapshot of the core keyboard mapping.
type keymap struct {
	min, per int
	syms     []C.KeySym
}

func (b *x11Backend) fetchKeymap() (keymap, error) {
	var lo, hi, per C.int
	p := C.tdm_mapping(b.c, &lo, &hi, &per)
	if p == nil {
		return keymap{}, errDisplayLost
	}
	defer C.XFree(unsafe.Pointer(p))
	n := int(hi-lo+1) * int(per)
	return keymap{min: int(lo), per: int(per), syms: append([]C.KeySym(nil), unsafe.Slice(p, n)...)}, nil
}

func (m keymap) sym(kc, col int) C.KeySym {
	if col >= m.per {
		return 0
	}
	i := (kc-m.min)*m.per + col
	if i < 0 || i >= len(m.syms) {
		return 0
	}
	return m.syms[i]
}

// findScratch picks unbound keycodes (no keysym, not a key of the table) from
// the top of the range for Type to bind characters the layout lacks.
func (b *x11Backend) findScratch() error {
	m, err := b.fetchKeymap()
	if err != nil {
		return err
	}
	used := map[int]bool{}
	for _, kc := range b.keycodes {
		used[int(kc)] = true
	}
	maxKC := m.min + len(m.syms)/max(m.per, 1) - 1
	for kc := maxKC; kc >= m.min && len(b.slots) < maxScratch; kc-- {
		if !used[kc] && m.holdsOnly(kc, 0) {
			b.slots = append(b.slots, scratchSlot{kc: C.int(kc)})
		}
	}
	return nil
}

// robotgo points robotgo at our display and checks its connection. Called
// with xmu held before every robotgo call.
func (b *x11Backend) robotgo() error {
	if b.c.dead != 0 {
		return errDisplayLost
	}
	if rgDisplay != b.display {
		if err := robotgo.SetXDisplayName(b.display); err != nil {
			return fmt.Errorf("robotgo: set display: %w", err)
		}
		rgDisplay = b.display
		C.tdm_forget_robotgo() // robotgo reopens on its next call
	}
	switch C.tdm_guard_robotgo(b.c) {
	case 0:
		b.guarded = true
		return nil
	case 1:
		return errDisplayLost
	case 2:
		// No guard: make sure the server is alive through our connection
		// before robotgo's (which would exit the process) touches it.
		if C.tdm_ping(b.c) != 0 {
			return errDisplayLost
		}
		return nil
	case 3:
		return fmt.Errorf("robotgo cannot open X display %q", b.display)
	default:
		return fmt.Errorf("robotgo opened another X display than %q", b.display)
	}
}

// releaseRobotgo closes robotgo's connection when the last backend goes, so
// a later server on the same display number gets a fresh one.
func (b *x11Backend) releaseRobotgo() {
	if rgUsers > 0 {
		return
	}
	// Closing robotgo's connection to a vanished server would exit the
	// process unless our IO exit handler sits on it.
	if b.guarded || C.tdm_ping(b.c) == 0 {
		robotgo.CloseMainDisplay()
	}
	C.tdm_forget_robotgo()
	rgDisplay = ""
}

func xerr(rc C.int) error {
	switch {
	case rc == 0:
		return nil
	case rc < 0:
		return errDisplayLost
	}
	return fmt.Errorf("X protocol error %d", int(rc))
}

func (b *x11Backend) keyAvailable(code string) error {
	if keyTable[code].xkb == "" {
		return fmt.Errorf("no X11 key for it: %w", ErrUnknownKey)
	}
	if _, ok := b.keycodes[code]; !ok { // immutable after Open
		return fmt.Errorf("not on the keyboard of X display %q: %w", b.display, ErrUnknownKey)
	}
	return nil
}

func (b *x11Backend) sendKeys(kcs, downs []uint8) error {
	return xerr(C.tdm_keys(b.c, (*C.uchar)(unsafe.Pointer(&kcs[0])), (*C.uchar)(unsafe.Pointer(&downs[0])), C.int(len(kcs))))
}

func (b *x11Backend) key(code string, down bool) error {
	xmu.Lock()
	defer xmu.Unlock()
	kc, ok := b.keycodes[code]
	if !ok {
		return fmt.Errorf("not on the keyboard of X display %q: %w", b.display, ErrUnknownKey)
	}
	d := uint8(0)
	if down {
		d = 1
	}
	return b.sendKeys([]uint8{kc}, []uint8{d})
}

func (b *x11Backend) move(x, y int) error {
	xmu.Lock()
	defer xmu.Unlock()
	if err := b.robotgo(); err != nil {
		return err
	}
	robotgo.Move(x, y)
	if C.tdm_robotgo_dead() != 0 {
		return errDisplayLost
	}
	return nil
}

func (b *x11Backend) button(btn Button, down bool) error {
	xmu.Lock()
	defer xmu.Unlock()
	var name string
	switch btn {
	case ButtonLeft:
		name = "left"
	case ButtonMiddle:
		name = "center"
	case ButtonRight:
		name = "right"
	case ButtonBack, ButtonForward:
		// robotgo only knows buttons 1–7; X buttons 8/9 are back/forward.
		xb := C.uint(8)
		if btn == ButtonForward {
			xb = 9
		}
		d := C.int(0)
		if down {
			d = 1
		}
		return xerr(C.tdm_button(b.c, xb, d))
	default:
		return fmt.Errorf("unknown mouse button %d", uint8(btn))
	}
	if err := b.robotgo(); err != nil {
		return err
	}
	state := "down"
	if !down {
		state = "up"
	}
	if err := robotgo.Toggle(name, state); err != nil {
		return err
	}
	if C.tdm_robotgo_dead() != 0 {
		return errDisplayLost
	}
	return nil
}

func (b *x11Backend) wheel(dx, dy int) error {
	xmu.Lock()
	defer xmu.Unlock()
	if err := b.robotgo(); err != nil {
		return err
	}
	// robotgo: y > 0 is button 4 (up), x > 0 is button 6 (left); ours are
	// the other way round. The 0 stops robotgo's default 10 ms sleep.
	robotgo.Scroll(-dx, -dy, 0)
	if C.tdm_robotgo_dead() != 0 {
		return errDisplayLost
	}
	return nil
}

type keyLoc struct {
	kc    uint8
	shift bool
}

func (b *x11Backend) typeText(text string) (err error) {
	xmu.Lock()
	defer xmu.Unlock()
	var group, mods, locked C.int
	if C.tdm_state(b.c, &group, &mods, &locked) != 0 {
		return errDisplayLost
	}
	// Caps Lock would invert letters: unlock it for the duration.
	if locked&xLockMask != 0 {
		if err := xerr(C.tdm_lock_mods(b.c, xLockMask, 0)); err != nil {
			return fmt.Errorf("unlock caps lock: %w", err)
		}
		defer func() {
			if rerr := xerr(C.tdm_lock_mods(b.c, xLockMask, xLockMask)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("relock caps lock: %w", rerr))
			}
		}()
	}
	m, err := b.fetchKeymap()
	if err != nil {
		return err
	}
	// Layout keys are usable in the first group with no level-3/5 shift
	// active; otherwise every character goes through a spare keycode.
	var layout map[C.KeySym]keyLoc
	if group == 0 && mods&(xMod3Mask|xMod5Mask) == 0 {
		layout = make(map[C.KeySym]keyLoc, len(m.syms)/max(m.per, 1)*2)
		scratch := map[int]bool{}
		for _, sl := range b.slots {
			scratch[int(sl.kc)] = true // go through bindScratch, which paces reuse
		}
		nkc := len(m.syms) / max(m.per, 1)
		for col := 1; col >= 0; col-- { // column 0 wins
			for i := nkc - 1; i >= 0; i-- { // lowest keycode wins
				kc := m.min + i
				if kc > 255 || scratch[kc] {
					continue
				}
				if s := m.sym(kc, col); s != 0 {
					layout[s] = keyLoc{kc: uint8(kc), shift: col == 1}
				}
			}
		}
	}
	shiftDown := mods&xShiftMask != 0
	for _, r := range text {
		sym := C.KeySym(runeKeysym(r))
		if loc, ok := layout[sym]; ok && (loc.shift || !shiftDown) {
			if loc.shift && !shiftDown {
				err = b.sendKeys([]uint8{b.shiftKC, loc.kc, loc.kc, b.shiftKC}, []uint8{1, 1, 0, 0})
			} else {
				err = b.sendKeys([]uint8{loc.kc, loc.kc}, []uint8{1, 0})
			}
			if err != nil {
				return err
			}
			continue
		}
		kc, berr := b.bindScratch(sym, &m)
		if berr != nil {
			return fmt.Errorf("character %U: %w", r, berr)
		}
		if err = b.sendKeys([]uint8{kc, kc}, []uint8{1, 0}); err != nil {
			return err
		}
	}
	return nil
}

// bindScratch returns a spare keycode bound to sym, binding the least
// recently used one if needed. m is updated with the new binding.
func (b *x11Backend) bindScratch(sym C.KeySym, m *keymap) (uint8, error) {
	// Drop spare keycodes the keymap now uses for something else (e.g. after
	// a layout change): ours carry our keysym or nothing.
	live := b.slots[:0]
	for _, s := range b.slots {
		if m.holdsOnly(int(s.kc), s.sym) {
			live = append(live, s)
		}
	}
	b.slots = live
	if len(b.slots) == 0 {
		return 0, errors.New("no spare keycode to bind a character the layout lacks")
	}
	lru := 0
	for i := range b.slots {
		s := &b.slots[i]
		if s.sym == sym && m.sym(int(s.kc), 0) == sym {
			s.used = time.Now()
			return uint8(s.kc), nil
		}
		if s.used.Before(b.slots[lru].used) {
			lru = i
		}
	}
	s := &b.slots[lru]
	if wait := scratchReuseAfter - time.Since(s.used); !s.used.IsZero() && wait > 0 {
		time.Sleep(wait) // pacing for other clients, see scratchReuseAfter
	}
	if err := xerr(C.tdm_remap(b.c, s.kc, sym)); err != nil {
		return 0, fmt.Errorf("bind keycode %d: %w", int(s.kc), err)
	}
	s.sym, s.used = sym, time.Now()
	if i := (int(s.kc) - m.min) * m.per; i >= 0 && i+m.per <= len(m.syms) {
		for col := range m.per {
			m.syms[i+col] = 0
		}
		m.syms[i] = sym
		if m.per > 1 {
			m.syms[i+1] = sym
		}
	}
	return uint8(s.kc), nil
}

// holdsOnly reports whether keycode kc is bound to nothing but sym (0: to
// nothing at all).
func (m keymap) holdsOnly(kc int, sym C.KeySym) bool {
	for col := 0; col < m.per; col++ {
		if v := m.sym(kc, col); v != 0 && v != sym {
			return false
		}
	}
	return true
}

// pressedKeycodes returns the keycodes the server reports as down (tests).
func (b *x11Backend) pressedKeycodes() ([]int, error) {
	xmu.Lock()
	defer xmu.Unlock()
	var keys [32]C.char
	if err := xerr(C.tdm_query_keymap(b.c, &keys[0])); err != nil {
		return nil, err
	}
	var down []int
	for i, byt := range keys {
		for bit := 0; bit < 8; bit++ {
			if uint8(byt)&(1<<bit) != 0 {
				down = append(down, i*8+bit)
			}
		}
	}
	return down, nil
}

func (b *x11Backend) close() error {
	xmu.Lock()
	defer xmu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	// Unbind the spare keycodes we bound (they were empty when we found
	// them), unless the keymap has been replaced since.
	if b.c.dead == 0 && slices.ContainsFunc(b.slots, func(s scratchSlot) bool { return s.sym != 0 }) {
		m, err := b.fetchKeymap()
		for _, s := range b.slots {
			if err != nil || s.sym == 0 || !m.holdsOnly(int(s.kc), s.sym) {
				continue
			}
			if err := xerr(C.tdm_remap(b.c, s.kc, 0)); err != nil {
				errs = append(errs, fmt.Errorf("unbind keycode %d: %w", int(s.kc), err))
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("unbind spare keycodes: %w", err))
		}
	}
	rgUsers--
	b.releaseRobotgo()
	C.tdm_close(b.c)
	b.log.Debug("input: closed X11 injector", "display", b.display)
	return errors.Join(errs...)
}
