package ondemand

import (
	"fmt"
	"image/color"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"
)

// Title is the window's title (tests find the window by it).
const Title = "Tandem OnDemand"

// Status colours: the dot beside "Waiting for assistance…" and the
// connected technician.
var (
	colorWaiting   = color.NRGBA{R: 0x1e, G: 0x88, B: 0xe5, A: 0xff}
	colorConnected = color.NRGBA{R: 0x2e, G: 0xa0, B: 0x43, A: 0xff}
	colorConsent   = color.NRGBA{R: 0xf5, G: 0x9e, B: 0x0b, A: 0xff}
)

// Window is the Fyne view of a Controller: one page per state.
type Window struct {
	W    fyne.Window
	c    *Controller
	quit func()

	mu      sync.Mutex // widgets change only under it
	shown   State
	pages   map[State]fyne.CanvasObject
	tickFor time.Time     // the deadline the countdown runs for
	changed chan struct{} // a render happened (tests wait on it)

	keyEntry   *widget.Entry
	connectBtn *widget.Button
	entryError *widget.Label

	waitDot        *canvas.Circle
	waitLabel      *widget.Label
	waitTech       *widget.Label
	disconnectWait *widget.Button

	consentText *widget.Label
	consentPerm *widget.Label
	countdown   *widget.Label
	allowBtn    *widget.Button
	denyBtn     *widget.Button

	sessionText   *widget.Label
	sessionPerm   *widget.Label
	disconnectBtn *widget.Button

	endText  *widget.Label
	closeBtn *widget.Button
}

// NewWindow builds the window on app a for c; Show it, then run the app.
// Closing the window ends whatever runs (Controller.Close), then calls
// quit (nil: the app's Quit).
func NewWindow(a fyne.App, c *Controller, quit func()) *Window {
	if quit == nil {
		quit = func() { fyne.Do(a.Quit) }
	}
	w := &Window{W: a.NewWindow(Title), c: c, shown: -1, changed: make(chan struct{}, 1)}
	w.build()
	w.W.SetFixedSize(true)
	w.W.Resize(fyne.NewSize(440, 300))
	w.quit = func() {
		go func() {
			c.Close()
			quit() // Quit, not a window close: it also stops the settings watch
		}()
	}
	w.W.SetCloseIntercept(w.quit)
	// Each change renders the newest view: changes from several goroutines
	// may be told out of order, the last render still shows the last state.
	c.OnChange(func(View) { fyne.Do(func() { w.render(c.View()) }) })
	w.render(c.View())
	return w
}

func heading(s string) *widget.Label {
	l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Wrapping = fyne.TextWrapWord
	return l
}

func wrapped() *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	return l
}

func dot(c color.Color) *canvas.Circle { return canvas.NewCircle(c) }

// dotRow puts a 14 px status dot before a heading that wraps in the rest
// of the width.
func dotRow(d *canvas.Circle, l *widget.Label) fyne.CanvasObject {
	return container.NewBorder(nil, nil, container.NewCenter(container.NewGridWrap(fyne.NewSize(14, 14), d)), nil, l)
}

func (w *Window) build() {
	w.keyEntry = widget.NewEntry()
	w.keyEntry.SetPlaceHolder("123 456 789")
	w.connectBtn = widget.NewButton("Connect", func() { w.c.Connect(w.keyEntry.Text) })
	w.connectBtn.Importance = widget.HighImportance
	w.keyEntry.OnSubmitted = func(s string) { w.c.Connect(s) }
	w.entryError = wrapped()
	w.entryError.Importance = widget.DangerImportance
	entry := container.NewVBox(
		heading("Enter the session key your technician gave you"),
		w.keyEntry,
		container.NewHBox(layout.NewSpacer(), w.connectBtn),
		w.entryError,
		wrapped(),
	)
	entry.Objects[4].(*widget.Label).SetText("Once connected, this computer can be reached by that technician, " +
		"and only after you allow it. Use keys only from someone you trust.")

	w.waitDot = dot(colorWaiting)
	w.waitLabel = heading("")
	w.waitTech = wrapped()
	w.disconnectWait = widget.NewButton("Disconnect", w.c.Disconnect)
	waiting := container.NewVBox(
		dotRow(w.waitDot, w.waitLabel),
		w.waitTech,
		layout.NewSpacer(),
		container.NewHBox(layout.NewSpacer(), w.disconnectWait),
	)

	w.consentText = heading("")
	w.consentPerm = wrapped()
	w.countdown = wrapped()
	w.allowBtn = widget.NewButton("Allow", w.c.Allow)
	w.allowBtn.Importance = widget.HighImportance
	w.denyBtn = widget.NewButton("Deny", w.c.Deny)
	consent := container.NewVBox(
		dotRow(dot(colorConsent), w.consentText),
		w.consentPerm,
		w.countdown,
		container.NewHBox(layout.NewSpacer(), w.denyBtn, w.allowBtn),
	)

	w.sessionText = heading("")
	w.sessionPerm = wrapped()
	w.disconnectBtn = widget.NewButton("Disconnect session", w.c.Disconnect)
	w.disconnectBtn.Importance = widget.DangerImportance
	note := wrapped()
	note.SetText("Press Ctrl+Shift+X at any time to end the session at once.")
	session := container.NewVBox(
		dotRow(dot(colorConnected), w.sessionText),
		w.sessionPerm,
		note,
		container.NewHBox(layout.NewSpacer(), w.disconnectBtn),
	)

	w.endText = wrapped()
	w.closeBtn = widget.NewButton("Close", func() { w.quit() })
	ended := container.NewVBox(heading("Session over"), w.endText, layout.NewSpacer(),
		container.NewHBox(layout.NewSpacer(), w.closeBtn))

	joining := container.NewVBox(heading("Checking the session key…"), widget.NewProgressBarInfinite())

	w.pages = map[State]fyne.CanvasObject{}
	for st, o := range map[State]fyne.CanvasObject{StateEntry: entry, StateJoining: joining, StateWaiting: waiting,
		StateConsent: consent, StateSession: session, StateEnded: ended} {
		w.pages[st] = container.NewPadded(o)
	}
}

func permissionList(ps []string) string {
	if len(ps) == 0 {
		return "No permissions"
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("• " + permissionText(p) + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// render shows v.
func (w *Window) render(v View) {
	w.mu.Lock()
	defer func() {
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}()
	switch v.State {
	case StateEntry:
		if w.keyEntry.Text != v.Key {
			w.keyEntry.SetText(v.Key)
		}
		w.entryError.SetText(v.Error)
	case StateWaiting:
		w.waitLabel.SetText("Waiting for assistance…")
		if v.Technician != "" {
			w.waitTech.SetText("Your technician, " + v.Technician + ", will connect shortly. " +
				"You will be asked before they can see this computer.")
		} else {
			w.waitTech.SetText("A technician will connect shortly. You will be asked before they can see this computer.")
		}
	case StateConsent:
		w.consentText.SetText(v.Technician + " asks to connect to this computer")
		w.consentPerm.SetText("They will be able to:\n" + permissionList(v.Permissions))
		w.tick(v.Deadline)
		if !v.Deadline.IsZero() && !v.Deadline.Equal(w.tickFor) {
			w.tickFor = v.Deadline
			go w.countdownLoop(v.Deadline)
		}
	case StateSession:
		w.sessionText.SetText("Connected: " + v.Technician)
		w.sessionPerm.SetText("Granted:\n" + permissionList(v.Permissions))
	case StateEnded:
		w.endText.SetText(v.Message)
	}
	if v.State != w.shown {
		w.shown = v.State
		w.W.SetContent(w.pages[v.State])
		switch v.State {
		case StateEntry:
			w.W.Canvas().Focus(w.keyEntry)
		case StateConsent:
			w.W.RequestFocus() // the question must not hide behind other windows
			// Deny has the keyboard focus: a stray Enter or Space from
			// typing elsewhere must never allow access.
			w.W.Canvas().Focus(w.denyBtn)
		case StateEnded:
			w.W.Canvas().Focus(w.closeBtn) // Space or Enter closes
		}
	}
}

// tick shows the seconds left to answer (w.mu held).
func (w *Window) tick(deadline time.Time) {
	if deadline.IsZero() {
		w.countdown.SetText("")
		return
	}
	left := max(time.Until(deadline).Round(time.Second), 0)
	w.countdown.SetText(fmt.Sprintf("Without an answer, access is denied in %d s.", int(left/time.Second)))
}

// countdownLoop refreshes the countdown while the prompt is shown.
func (w *Window) countdownLoop(deadline time.Time) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		v := w.c.View()
		if v.State != StateConsent || !v.Deadline.Equal(deadline) {
			return
		}
		fyne.Do(func() {
			w.mu.Lock()
			if w.shown == StateConsent {
				w.tick(deadline)
			}
			w.mu.Unlock()
		})
	}
}
