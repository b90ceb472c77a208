package agent

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/policy"
)

// ErrWhitelistUnenforceable refuses a session whose grant whitelists
// applications on a host that cannot tell windows apart: deny by default.
var ErrWhitelistUnenforceable = errors.New("agent: this host cannot enforce the application whitelist")

// TopWindow is one top-level window as the window system stacks it.
type TopWindow struct {
	ID   uint64
	Rect image.Rectangle // root coordinates, decorations included
	Exe  string          // absolute path of the owning process's executable; "" when unknown
}

// Windows enumerates the desktop's windows for whitelist enforcement; one
// implementation per platform (windows_linux.go, windows_windows.go).
type Windows interface {
	// List returns the visible top-level windows, bottom to top.
	List() ([]TopWindow, error)
	// Focused returns the ID (as in List) of the top-level window that
	// receives keyboard input; 0 when none or unknown.
	Focused() (uint64, error)
	// Pointer returns the pointer position in root coordinates.
	Pointer() (image.Point, error)
	Close() error
}

// WindowsOptions configures OpenWindows.
type WindowsOptions struct {
	Display string // X11 display ("" = $DISPLAY); ignored elsewhere
	Logger  *slog.Logger
}

// OpenWindows opens the platform's window enumeration. It fails (wrapping
// errors.ErrUnsupported where there is no implementation) when the host
// cannot enforce a whitelist.
func OpenWindows(o WindowsOptions) (Windows, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return openWindows(o)
}

// appGuard enforces a grant's whitelist: only the allowed applications'
// visible window areas reach the guest, and input reaches only them.
type appGuard struct {
	w      Windows
	apps   []policy.GrantApp
	getenv func(string) string
	log    *slog.Logger

	mu      sync.Mutex
	exeOK   map[string]bool // executable path → allowed (paths are stable)
	region  []image.Rectangle
	allowed map[uint64]bool // top-level windows of allowed applications
	held    map[string]bool // buttons and keys pressed with the whitelist's consent
}

func newAppGuard(w Windows, apps []policy.GrantApp, log *slog.Logger) *appGuard {
	return &appGuard{w: w, apps: apps, getenv: os.Getenv, log: log, exeOK: map[string]bool{}, held: map[string]bool{}}
}

func (g *appGuard) press(id string) {
	g.mu.Lock()
	g.held[id] = true
	g.mu.Unlock()
}

// release reports whether id was pressed with consent, and forgets it.
func (g *appGuard) release(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	ok := g.held[id]
	delete(g.held, id)
	return ok
}

// refresh lists the windows and recomputes what is visible and allowed.
func (g *appGuard) refresh() ([]image.Rectangle, error) {
	wins, err := g.w.List()
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(wins))
	allowed := map[uint64]bool{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, w := range wins {
		a, seen := g.exeOK[w.Exe]
		if !seen {
			a = matchApp(g.apps, w.Exe, g.getenv)
			g.exeOK[w.Exe] = a
		}
		ok[i] = a
		if a {
			allowed[w.ID] = true
		}
	}
	g.region = visibleRegion(wins, ok)
	g.allowed = allowed
	return g.region, nil
}

// maskFrame lists the windows around the grab and blanks every pixel of f
// (grabbed at origin) outside the allowed area of both listings, so a window
// that moved or appeared during the grab is masked at either place.
func (g *appGuard) maskFrame(f *capture.Frame, origin image.Point, before []image.Rectangle) error {
	after, err := g.refresh()
	if err != nil {
		return err
	}
	maskOutside(f, origin, intersectRegions(before, after))
	return nil
}

// pointerAllowed reports whether p lies in an allowed window's visible area
// now.
func (g *appGuard) pointerAllowed(p image.Point) (bool, error) {
	reg, err := g.refresh()
	if err != nil {
		return false, err
	}
	return regionContains(reg, p), nil
}

// shows reports whether p lies in the allowed area as last computed (each
// screen frame recomputes it): the cursor loop's cheap check, so the pointer's
// position and shape over masked windows never reach the guest.
func (g *appGuard) shows(p image.Point) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return regionContains(g.region, p)
}

// keysAllowed reports whether the window with keyboard focus belongs to an
// allowed application now.
func (g *appGuard) keysAllowed() (bool, error) {
	if _, err := g.refresh(); err != nil {
		return false, err
	}
	id, err := g.w.Focused()
	if err != nil || id == 0 {
		return false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowed[id], nil
}

// matchApp reports whether the executable at exe is one of apps: same file
// name (case-insensitive) and, when an app has a Path, the same folder after
// expanding environment variables (%VAR%, $VAR, ${VAR}). Unknown
// executables never match.
func matchApp(apps []policy.GrantApp, exe string, getenv func(string) string) bool {
	if exe == "" {
		return false
	}
	dir, base := splitPath(exe)
	for _, a := range apps {
		if a.Executable == "" || !strings.EqualFold(base, a.Executable) {
			continue
		}
		if a.Path == "" {
			return true
		}
		want := expandEnv(a.Path, getenv)
		if strings.Contains(want, "%") || strings.Contains(want, "$") {
			continue // an unset variable: never a wildcard
		}
		if samePath(cleanDir(want), cleanDir(dir)) {
			return true
		}
		// Allow for symbolic links on the way (/bin → /usr/bin).
		if real, err := filepath.EvalSymlinks(want); err == nil && samePath(cleanDir(real), cleanDir(dir)) {
			return true
		}
	}
	return false
}

// splitPath splits at the last slash or backslash: whitelists written for
// Windows are matched on any host.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexAny(p, `/\`)
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func cleanDir(d string) string {
	d = strings.ReplaceAll(d, `\`, "/")
	for strings.Contains(d, "//") {
		d = strings.ReplaceAll(d, "//", "/")
	}
	if len(d) > 1 {
		d = strings.TrimSuffix(d, "/")
	}
	return d
}

// expandEnv expands %VAR% (Windows style) and $VAR / ${VAR}; unset
// variables stay as written so they cannot match anything.
func expandEnv(s string, getenv func(string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			break
		}
		name := s[i+1 : i+1+j]
		if v := getenv(name); name != "" && v != "" {
			b.WriteString(s[:i])
			b.WriteString(v)
		} else {
			b.WriteString(s[:i+2+j])
		}
		s = s[i+2+j:]
	}
	b.WriteString(s)
	return os.Expand(b.String(), func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return "${" + name + "}"
	})
}

// visibleRegion is the area where allowed windows show: each window,
// bottom to top, paints over what is below it. The result is a set of
// disjoint rectangles.
func visibleRegion(wins []TopWindow, allowed []bool) []image.Rectangle {
	var reg []image.Rectangle
	for i, w := range wins {
		if w.Rect.Empty() {
			continue
		}
		reg = subtractRect(reg, w.Rect)
		if allowed[i] {
			reg = append(reg, w.Rect)
		}
	}
	return reg
}

// subtractRect removes cut from every rectangle of reg, splitting each into
// up to four pieces (above, below, left, right of cut).
func subtractRect(reg []image.Rectangle, cut image.Rectangle) []image.Rectangle {
	out := reg[:0:0]
	for _, r := range reg {
		if !r.Overlaps(cut) {
			out = append(out, r)
			continue
		}
		in := r.Intersect(cut)
		for _, p := range []image.Rectangle{
			{r.Min, image.Pt(r.Max.X, in.Min.Y)},
			{image.Pt(r.Min.X, in.Max.Y), r.Max},
			{image.Pt(r.Min.X, in.Min.Y), image.Pt(in.Min.X, in.Max.Y)},
			{image.Pt(in.Max.X, in.Min.Y), image.Pt(r.Max.X, in.Max.Y)},
		} {
			if !p.Empty() {
				out = append(out, p)
			}
		}
	}
	return out
}

func intersectRegions(a, b []image.Rectangle) []image.Rectangle {
	var out []image.Rectangle
	for _, r := range a {
		for _, s := range b {
			if in := r.Intersect(s); !in.Empty() {
				out = append(out, in)
			}
		}
	}
	return out
}

func regionContains(reg []image.Rectangle, p image.Point) bool {
	for _, r := range reg {
		if p.In(r) {
			return true
		}
	}
	return false
}

// maskOutside zeroes (black) every pixel of f outside reg (root
// coordinates; f's top-left pixel is at origin). Row by row it keeps the
// spans reg covers, so the cost is one memclr per masked span.
func maskOutside(f *capture.Frame, origin image.Point, reg []image.Rectangle) {
	fr := image.Rect(0, 0, f.Width, f.Height)
	local := make([]image.Rectangle, 0, len(reg))
	for _, r := range reg {
		if r = r.Sub(origin).Intersect(fr); !r.Empty() {
			local = append(local, r)
		}
	}
	if len(local) == 0 {
		for y := range f.Height {
			clear(f.Pix[y*f.Stride : y*f.Stride+f.Width*4])
		}
		return
	}
	type span struct{ a, b int }
	spans := make([]span, 0, len(local))
	for y := range f.Height {
		spans = spans[:0]
		for _, r := range local {
			if y >= r.Min.Y && y < r.Max.Y {
				spans = append(spans, span{r.Min.X, r.Max.X})
			}
		}
		slices.SortFunc(spans, func(p, q span) int { return p.a - q.a })
		row := f.Pix[y*f.Stride : y*f.Stride+f.Width*4]
		x := 0
		for _, s := range spans {
			if s.a > x {
				clear(row[x*4 : s.a*4])
			}
			x = max(x, s.b)
		}
		if x < f.Width {
			clear(row[x*4:])
		}
	}
}

// openGuard opens the host's window enumeration for a whitelisted grant and
// checks that it works, or explains why the session must be refused.
func (h *Host) openGuard(g *policy.Grant) (*appGuard, error) {
	open := h.o.Windows
	if open == nil {
		open = func() (Windows, error) { return OpenWindows(WindowsOptions{Logger: h.log}) }
	}
	w, err := open()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWhitelistUnenforceable, err)
	}
	guard := newAppGuard(w, g.Whitelist, h.log)
	if _, err := guard.refresh(); err != nil {
		w.Close()
		return nil, fmt.Errorf("%w: %w", ErrWhitelistUnenforceable, err)
	}
	return guard, nil
}
