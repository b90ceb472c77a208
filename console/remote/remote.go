// Package remote is the technician console's remote-control window: the
// host's screen, input to it, and the session toolbar (virtual modifiers,
// view modes, monitors, clipboard, power, lock/blank, files, chat).
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Options tune the window.
type Options struct {
	Title  string
	Logger *slog.Logger
	// OnClosed is called once: with the session's error when the remote
	// side, the relay or the network ends it (the window then stays open
	// with the reason), or with nil when the technician disconnects or
	// closes the window.
	OnClosed func(err error)
	// Panel opens the window with a side panel showing: "", "files" or "chat".
	Panel string
	// Mode is the initial view mode (default Fit To Screen).
	Mode ViewMode

	// do runs f on the UI goroutine (default fyne.Do); tests pump their own.
	do func(f func())
}

// Permission names as the grant carries them (policy package).
const (
	permViewScreen    = "view_screen"
	permKeyboardMouse = "keyboard_mouse"
	permClipboard     = "clipboard"
	permLockInput     = "lock_input"
	permBlankScreen   = "blank_screen"
	permFiles         = "file_transfer"
	permChat          = "chat"
	permPower         = "power"
)

// opTimeout bounds a toolbar request waiting for the host.
const opTimeout = 30 * time.Second

// window is one session's remote-control window.
type window struct {
	a     fyne.App
	win   fyne.Window
	s     *guest.Session
	o     Options
	log   *slog.Logger
	do    func(func())
	perms map[string]bool

	ctx    context.Context // ends when the window closes
	cancel context.CancelFunc

	in      *inputState
	view    *screenView
	scroll  *container.Scroll
	area    *fyne.Container // holds the view (Fit) or the scroller (Actual)
	side    *fyne.Container // right-hand panel holder
	files   *filesPanel
	chat    *chatPanel
	panel   string
	banner  *widget.Label
	bannerB *fyne.Container
	status  *widget.Label // permanent: view only, session ended

	tools       *fyne.Container // the toolbar's items
	modBtns     [numMods]*modButton
	modeSel     *widget.Select
	monSel      *widget.Select
	monIndex    []int16
	clipBtn     *widget.Button
	powerBtn    *widget.Button
	lockChk     *widget.Check
	blankChk    *widget.Check
	filesBtn    *widget.Button
	chatBtn     *widget.Button
	discBtn     *widget.Button
	settingChk  bool // a check is being reverted: not a user change
	framePend   atomic.Bool
	stopWatch   func()
	closeOnce   sync.Once
	ended       bool
	windowGone  bool
	frameShown  uint64 // frames drawn (tests wait on it)
	lastRefusal string
}

// Open shows a connected session in a new window of app and returns it;
// onClosed is called once with the reason when the session or the window ends.
// Call it on the UI goroutine (fyne.Do from others, e.g. after Connect);
// closing the window closes the session.
func Open(a fyne.App, s *guest.Session, o Options) fyne.Window {
	w := newWindow(a, s, o)
	w.win.Show()
	return w.win
}

func newWindow(a fyne.App, s *guest.Session, o Options) *window {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Title == "" {
		o.Title = "Tandem — " + s.DeviceID
	}
	w := &window{a: a, s: s, o: o, log: o.Logger, do: o.do, perms: map[string]bool{}}
	if w.do == nil {
		w.do = fyne.Do
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	info := s.Info()
	perms := s.Perms
	if info != nil && info.Permissions != nil {
		perms = info.Permissions // the host's grant is what it enforces
	}
	for _, p := range perms {
		w.perms[p] = true
	}
	w.win = a.NewWindow(o.Title)
	w.in = newInputState(s, func(err error) { w.log.Debug("input not sent", "err", err) })
	w.in.onMods = w.showMods
	w.view = newScreenView(w.in)
	w.view.control = w.perms[permKeyboardMouse]
	w.scroll = container.NewScroll(w.view)
	w.view.onResize = func() { w.scroll.Refresh(); w.area.Refresh() }
	w.area = container.NewStack()
	w.side = container.NewStack()
	w.banner = widget.NewLabel("")
	w.banner.Wrapping = fyne.TextWrapWord
	w.bannerB = container.NewBorder(nil, nil, nil, widget.NewButton("✕", func() { w.bannerB.Hide() }), w.banner)
	w.bannerB.Hide()
	w.status = widget.NewLabel("")
	w.status.Hide()
	switch {
	case !w.perms[permViewScreen]:
		w.setStatus("This session does not include the screen (" + strings.Join(perms, ", ") + ").")
	case !w.view.control:
		w.setStatus("View only: this session does not include keyboard and mouse control.")
	}

	// The toolbar scrolls sideways rather than forcing a wide window.
	w.tools = w.buildToolbar(info)
	toolbar := container.NewHScroll(w.tools)
	top := container.NewVBox(toolbar, w.status, w.bannerB)
	w.win.SetContent(container.NewBorder(top, nil, nil, w.side, w.area))
	w.setMode(o.Mode)
	w.win.Resize(fyne.NewSize(1024, 720))
	w.win.SetOnClosed(w.closed)

	w.stopWatch = s.Watch(guest.Watcher{
		Frame: func(guest.FrameEvent) {
			if w.framePend.CompareAndSwap(false, true) {
				w.do(w.drawFrame) // coalesced: one redraw pending at most
			}
		},
		Clipboard: func(text string) {
			if w.perms[permClipboard] {
				w.do(func() {
					w.a.Clipboard().SetContent(text)
					w.notice(fmt.Sprintf("The host's clipboard (%d characters) is now on yours.", len([]rune(text))))
				})
			}
		},
		Refused: func(e *wire.Error) { w.do(func() { w.refused(e) }) },
		// The host's pointer travels apart from the frames: redraw to move it.
		Cursor: func(guest.Cursor) {
			if w.framePend.CompareAndSwap(false, true) {
				w.do(w.drawFrame)
			}
		},
	})
	w.chat = newChatPanel(w)
	w.files = newFilesPanel(w)
	go func() {
		select {
		case <-s.Done():
			err := s.Err()
			w.do(func() { w.sessionEnded(err) })
		case <-w.ctx.Done():
		}
	}()
	go w.chat.receive()
	w.drawFrame() // a keyframe may have arrived before Watch
	switch o.Panel {
	case "files", "chat":
		w.showPanel(o.Panel)
	}
	w.win.Canvas().Focus(w.view)
	return w
}

// drawFrame copies the session's screen into the view's buffer (on the UI
// goroutine, where the renderer reads it) and redraws.
func (w *window) drawFrame() {
	w.framePend.Store(false)
	buf, origin, ok := w.s.CopyScreen(w.view.buf)
	if !ok {
		return
	}
	if c, ok := w.s.Cursor(); ok {
		guest.DrawCursor(buf, origin, c)
	}
	w.view.setFrame(buf, origin)
	w.frameShown++
}

func (w *window) setMode(m ViewMode) {
	w.view.setMode(m)
	if m == ActualSize {
		w.scroll.Content = w.view
		w.area.Objects = []fyne.CanvasObject{w.scroll}
		w.scroll.Refresh()
	} else {
		w.area.Objects = []fyne.CanvasObject{w.view}
	}
	w.area.Refresh()
	if w.modeSel != nil {
		w.modeSel.SetSelectedIndex(int(m))
	}
}

func (w *window) buildToolbar(info *wire.SessionInfo) *fyne.Container {
	var items []fyne.CanvasObject
	for k := Mod(0); k < numMods; k++ {
		k := k
		b := newModButton(modLabels[k], func() { w.in.clickMod(k); w.modChanged() }, func() { w.in.doubleClickMod(k); w.modChanged() })
		if !w.view.control {
			b.Disable()
		}
		w.modBtns[k] = b
		items = append(items, b)
	}
	items = append(items, widget.NewSeparator())

	w.modeSel = widget.NewSelect([]string{"Fit To Screen", "Actual Size"}, func(s string) {
		m := FitToScreen
		if s == "Actual Size" {
			m = ActualSize
		}
		if m != w.view.mode {
			w.setMode(m)
		}
	})
	w.modeSel.SetSelectedIndex(int(w.o.Mode))
	items = append(items, w.modeSel)

	if info != nil && len(info.Monitors) > 1 {
		var names []string
		names = append(names, "All monitors")
		w.monIndex = append(w.monIndex, -1)
		for i, m := range info.Monitors {
			n := fmt.Sprintf("%d: %dx%d", i+1, m.Width, m.Height)
			if m.Name != "" {
				n = fmt.Sprintf("%d: %s (%dx%d)", i+1, m.Name, m.Width, m.Height)
			}
			names = append(names, n)
			w.monIndex = append(w.monIndex, int16(i))
		}
		w.monSel = widget.NewSelect(names, nil)
		for i, idx := range w.monIndex {
			if idx == info.Active {
				w.monSel.SetSelectedIndex(i)
			}
		}
		w.monSel.OnChanged = func(string) { w.selectMonitor(w.monIndex[w.monSel.SelectedIndex()]) }
		items = append(items, w.monSel)
	}

	w.clipBtn = widget.NewButton("Sync clipboard", w.syncClipboard)
	w.powerBtn = widget.NewButton("Power…", w.showPowerMenu)
	w.lockChk = widget.NewCheck("Lock input", func(on bool) { w.localToggle(w.lockChk, on, "lock input", w.s.LockInput) })
	w.blankChk = widget.NewCheck("Blank screen", func(on bool) { w.localToggle(w.blankChk, on, "blank the screen", w.s.BlankScreen) })
	w.filesBtn = widget.NewButton("Files", func() { w.togglePanel("files") })
	w.chatBtn = widget.NewButton("Chat", func() { w.togglePanel("chat") })
	w.discBtn = widget.NewButton("Disconnect", func() { w.win.Close() })
	w.discBtn.Importance = widget.DangerImportance
	for _, c := range []struct {
		o    fyne.CanvasObject
		perm string
	}{{w.clipBtn, permClipboard}, {w.powerBtn, permPower}, {w.lockChk, permLockInput}, {w.blankChk, permBlankScreen},
		{w.filesBtn, permFiles}, {w.chatBtn, permChat}} {
		if w.perms[c.perm] {
			items = append(items, c.o)
		}
	}
	items = append(items, layout.NewSpacer(), w.discBtn)
	return container.NewHBox(items...)
}

// modChanged shows the modifiers' states and gives the keyboard back to the view.
func (w *window) modChanged() {
	w.showMods()
	w.win.Canvas().Focus(w.view)
}

func (w *window) showMods() {
	for k, b := range w.modBtns {
		b.setState(w.in.mods.State(Mod(k)))
	}
}

func (w *window) selectMonitor(idx int16) {
	if err := w.s.Send(&wire.SelectMonitor{Index: idx}); err != nil {
		w.notice("Could not switch monitors: " + err.Error())
	}
}

func (w *window) syncClipboard() {
	text := w.a.Clipboard().Content()
	if text == "" {
		w.notice("Your clipboard holds no text to send.")
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		defer cancel()
		err := w.s.SetClipboard(ctx, text)
		w.do(func() {
			if err != nil {
				w.notice("Clipboard not sent: " + friendly(err))
				return
			}
			w.notice(fmt.Sprintf("Your clipboard (%d characters) is on the host's clipboard: paste it there.", len([]rune(text))))
		})
	}()
}

// localToggle applies a lock-input or blank-screen change and reverts the
// check if the host refuses it.
func (w *window) localToggle(c *widget.Check, on bool, what string, apply func(context.Context, bool) error) {
	if w.settingChk {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		defer cancel()
		err := apply(ctx, on)
		if err == nil {
			return
		}
		w.do(func() {
			w.settingChk = true
			c.SetChecked(!on)
			w.settingChk = false
			w.notice(fmt.Sprintf("Could not %s: %s", what, friendly(err)))
		})
	}()
}

var powerItems = []struct {
	label, action string
	confirm       bool
}{
	{"Log out", "logout", false}, {"Lock", "lock", false}, {"Restart…", "restart", true},
	{"Shut down…", "shutdown", true}, {"Ctrl+Alt+Del", "ctrl-alt-del", false},
}

func (w *window) showPowerMenu() {
	var items []*fyne.MenuItem
	for _, p := range powerItems {
		p := p
		items = append(items, fyne.NewMenuItem(p.label, func() { w.power(p.action, p.confirm) }))
	}
	c := w.win.Canvas()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(w.powerBtn).Add(fyne.NewPos(0, w.powerBtn.Size().Height))
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", items...), c, pos)
}

// power carries out a power action; restart and shutdown ask first, as they
// end the session and the end user's work.
func (w *window) power(action string, confirm bool) {
	run := func() {
		code := guest.PowerActions[action]
		go func() {
			ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
			defer cancel()
			err := w.s.Power(ctx, code)
			w.do(func() {
				if err != nil {
					w.notice(fmt.Sprintf("The host did not %s: %s", wire.PowerActionName(code), friendly(err)))
					return
				}
				w.notice(fmt.Sprintf("The host carried out %s.", wire.PowerActionName(code)))
			})
		}()
	}
	if !confirm {
		run()
		return
	}
	verb := map[string]string{"restart": "Restart", "shutdown": "Shut down"}[action]
	dialog.ShowConfirm(verb+" the device?",
		fmt.Sprintf("%s %s now? Unsaved work on it is lost and this session ends.", verb, w.o.Title), func(ok bool) {
			if ok {
				run()
			}
		}, w.win)
}

func (w *window) togglePanel(name string) {
	if w.panel == name {
		w.showPanel("")
		return
	}
	w.showPanel(name)
}

func (w *window) showPanel(name string) {
	w.panel = name
	switch name {
	case "files":
		w.side.Objects = []fyne.CanvasObject{w.files.root}
		w.files.opened()
	case "chat":
		w.side.Objects = []fyne.CanvasObject{w.chat.root}
		w.chatBtn.Importance = widget.MediumImportance
		w.chatBtn.Refresh()
	default:
		w.side.Objects = nil
	}
	w.side.Refresh()
}

// notice shows a dismissable message above the screen.
func (w *window) notice(text string) {
	w.banner.SetText(text)
	w.bannerB.Show()
}

func (w *window) setStatus(text string) {
	w.status.SetText(text)
	w.status.Show()
}

// refused tells the technician the host refused input or a monitor switch,
// once per distinct reason in a row (refused input is refused per event).
// Toolbar requests report their own refusals where they were made.
func (w *window) refused(e *wire.Error) {
	switch e.Ref {
	case wire.TypeMouseMove, wire.TypeMouseButton, wire.TypeMouseWheel, wire.TypeKey, wire.TypeKeyTap, wire.TypeText, wire.TypeSelectMon:
	default:
		w.log.Debug("host refusal", "err", e)
		return
	}
	text := "The host refused " + refName(e.Ref) + ": " + e.Message
	if text == w.lastRefusal && w.bannerB.Visible() {
		return
	}
	w.lastRefusal = text
	w.notice(text)
}

func refName(t wire.MsgType) string {
	if t == wire.TypeSelectMon {
		return "the monitor switch"
	}
	return "keyboard and mouse input"
}

// friendly turns an error into a sentence for the technician.
func friendly(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the host did not answer in time"
	}
	return strings.TrimPrefix(err.Error(), "guest: ")
}

// sessionEnded: the remote side, the relay or the network ended it. The
// window stays with the last screen and the reason.
func (w *window) sessionEnded(err error) {
	if w.ended || w.windowGone {
		return
	}
	w.ended = true
	w.view.control = false
	reason := "the session ended"
	if err != nil {
		reason = strings.TrimPrefix(err.Error(), "guest: session ended: ")
	}
	w.setStatus("Session ended: " + reason)
	for _, b := range w.modBtns {
		b.Disable()
	}
	for _, b := range []fyne.Disableable{w.clipBtn, w.powerBtn, w.lockChk, w.blankChk} {
		b.Disable()
	}
	w.files.sessionEnded()
	w.chat.sessionEnded()
	w.discBtn.SetText("Close")
	dialog.ShowInformation("Session ended", "The session with "+w.o.Title+" ended: "+reason+".", w.win)
	w.closeOnce.Do(func() {
		if w.o.OnClosed != nil {
			w.o.OnClosed(err)
		}
	})
}

// closed: the window closes (Disconnect, the close button, or the app).
func (w *window) closed() {
	w.windowGone = true
	if !w.ended {
		w.in.releaseAll()
	}
	w.stopWatch()
	w.cancel()
	_ = w.s.Close()
	w.closeOnce.Do(func() {
		if w.o.OnClosed != nil {
			w.o.OnClosed(nil)
		}
	})
}

// sortedEntries orders a listing: folders first, then by name.
func sortedEntries(es []wire.FileEntry) []wire.FileEntry {
	out := append([]wire.FileEntry(nil), es...)
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := out[i].Mode&wire.FileModeDir != 0, out[j].Mode&wire.FileModeDir != 0
		if di != dj {
			return di
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out
}
