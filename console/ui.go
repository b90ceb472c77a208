package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ui is the console's window over a Model. Its methods run on Fyne's main
// goroutine; relay calls go through async and come back through do.
type ui struct {
	ctx context.Context
	app fyne.App
	win fyne.Window
	m   *Model
	log *slog.Logger
	// async runs relay calls off the main goroutine and do brings their
	// results back; tests make both synchronous.
	async func(func())
	do    func(func())
	open  func(fyne.App, *guest.Session, remoteOptions) fyne.Window

	shown    Phase
	shownSet bool

	// login
	relayEntry, userEntry, passEntry *widget.Entry
	loginBtn                         *widget.Button
	loginErr                         *widget.Label
	loginView                        fyne.CanvasObject
	// MFA
	codeEntry *widget.Entry
	codeBtn   *widget.Button
	codeErr   *widget.Label
	codeView  fyne.CanvasObject

	// main
	mainView   fyne.CanvasObject
	whoLabel   *widget.Label
	accountSel *widget.Select
	devs       *devicesView
	sess       *sessionsView

	mu       sync.Mutex
	sessions map[*guest.Session]fyne.Window
}

func newUI(ctx context.Context, a fyne.App, m *Model, log *slog.Logger) *ui {
	u := &ui{ctx: ctx, app: a, m: m, log: log, win: a.NewWindow("Tandem Console"),
		async: func(f func()) { go f() }, do: fyne.Do, open: openSession,
		sessions: map[*guest.Session]fyne.Window{}}
	u.buildLogin()
	u.buildMFA()
	u.buildMain()
	u.win.Resize(fyne.NewSize(1000, 620))
	return u
}

func (u *ui) buildLogin() {
	u.relayEntry = widget.NewEntry()
	u.relayEntry.SetPlaceHolder("https://relay.example.com")
	u.userEntry = widget.NewEntry()
	u.userEntry.SetPlaceHolder("you@example.com or DOMAIN\\user")
	u.passEntry = widget.NewPasswordEntry()
	u.loginErr = errorLabel()
	u.loginBtn = widget.NewButtonWithIcon("Log in", theme.LoginIcon(), u.login)
	u.loginBtn.Importance = widget.HighImportance
	u.passEntry.OnSubmitted = func(string) { u.login() }
	form := widget.NewForm(
		widget.NewFormItem("Relay", u.relayEntry),
		widget.NewFormItem("Email or DOMAIN\\user", u.userEntry),
		widget.NewFormItem("Password", u.passEntry))
	u.loginView = centered("Log in to your Tandem relay", form, u.loginErr, u.loginBtn)
}

func (u *ui) buildMFA() {
	u.codeEntry = widget.NewEntry()
	u.codeEntry.SetPlaceHolder("123456 or a recovery code")
	u.codeErr = errorLabel()
	u.codeBtn = widget.NewButton("Verify", u.submitCode)
	u.codeBtn.Importance = widget.HighImportance
	u.codeEntry.OnSubmitted = func(string) { u.submitCode() }
	back := widget.NewButton("Back", func() { u.m.CancelMFA(); u.render() })
	help := widget.NewLabel("The relay emailed you a six-digit login code. Enter it, or one of your recovery codes if you cannot read that mailbox.")
	help.Wrapping = fyne.TextWrapWord
	u.codeView = centered("Two-step login", help, u.codeEntry, u.codeErr, container.NewGridWithColumns(2, back, u.codeBtn))
}

func (u *ui) buildMain() {
	u.whoLabel = widget.NewLabel("")
	u.accountSel = widget.NewSelect(nil, nil)
	u.accountSel.OnChanged = func(name string) {
		for _, a := range u.m.User().Accounts {
			if a.Name == name && a.ID != u.m.Account() {
				u.m.SetAccount(a.ID)
				u.devs.render()
				u.sess.render()
			}
		}
	}
	logout := widget.NewButtonWithIcon("Log out", theme.LogoutIcon(), func() {
		u.m.Logout()
		u.passEntry.SetText("")
		u.render()
	})
	u.devs = newDevicesView(u)
	u.sess = newSessionsView(u)
	tabs := container.NewAppTabs(
		container.NewTabItemWithIcon("My devices", theme.ComputerIcon(), u.devs.view),
		container.NewTabItemWithIcon("My sessions", theme.AccountIcon(), u.sess.view))
	top := container.NewBorder(nil, nil, nil, container.NewHBox(u.accountSel, logout), u.whoLabel)
	u.mainView = container.NewBorder(top, nil, nil, nil, tabs)
}

func errorLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	return l
}

func setError(l *widget.Label, msg string) {
	l.SetText(msg)
	if msg == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

func centered(title string, parts ...fyne.CanvasObject) fyne.CanvasObject {
	h := widget.NewLabelWithStyle(title, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	box := container.NewVBox(append([]fyne.CanvasObject{h}, parts...)...)
	return container.NewCenter(container.New(widthLayout{460}, box))
}

// render shows the view of the model's phase and refreshes it.
func (u *ui) render() {
	ph := u.m.Phase()
	switch ph {
	case PhaseLogin:
		relay, user := u.m.Remembered()
		if u.relayEntry.Text == "" {
			u.relayEntry.SetText(relay)
		}
		if u.userEntry.Text == "" {
			u.userEntry.SetText(user)
		}
		setError(u.loginErr, u.m.LoginError())
		u.loginView.Refresh() // lay out again: the error may have appeared
	case PhaseMFA:
		setError(u.codeErr, u.m.LoginError())
		u.codeView.Refresh()
	case PhaseMain:
		me := u.m.User()
		relay, _ := u.m.Remembered()
		u.whoLabel.SetText(fmt.Sprintf("%s on %s", me.Email, relay))
		var names []string
		sel := ""
		for _, a := range me.Accounts {
			names = append(names, a.Name)
			if a.ID == u.m.Account() {
				sel = a.Name
			}
		}
		if !slices.Equal(u.accountSel.Options, names) { // an open drop-down stays open
			u.accountSel.SetOptions(names)
		}
		if u.accountSel.Selected != sel {
			u.accountSel.SetSelected(sel)
		}
		if len(names) > 1 {
			u.accountSel.Show()
		} else {
			u.accountSel.Hide()
		}
		u.devs.render()
		u.sess.render()
	}
	if u.shownSet && u.shown == ph {
		return
	}
	u.shown, u.shownSet = ph, true
	switch ph {
	case PhaseLogin:
		u.win.SetContent(u.loginView)
		if u.relayEntry.Text == "" {
			u.win.Canvas().Focus(u.relayEntry)
		} else if u.userEntry.Text == "" {
			u.win.Canvas().Focus(u.userEntry)
		} else {
			u.win.Canvas().Focus(u.passEntry)
		}
	case PhaseMFA:
		u.codeEntry.SetText("")
		u.win.SetContent(u.codeView)
		u.win.Canvas().Focus(u.codeEntry)
	case PhaseMain:
		u.passEntry.SetText("")
		u.win.SetContent(u.mainView)
		u.refresh()
	}
}

// busy disables b while a relay call runs.
func (u *ui) busy(b *widget.Button, f func()) {
	b.Disable()
	u.async(func() {
		f()
		u.do(func() { b.Enable(); u.render() })
	})
}

func (u *ui) login() {
	relay, user, pw := u.relayEntry.Text, u.userEntry.Text, u.passEntry.Text
	u.busy(u.loginBtn, func() {
		ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
		defer cancel()
		u.m.Login(ctx, relay, user, pw)
	})
}

func (u *ui) submitCode() {
	code := u.codeEntry.Text
	u.busy(u.codeBtn, func() {
		ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
		defer cancel()
		u.m.SubmitCode(ctx, code)
	})
}

// refresh reloads devices and sessions from the relay.
func (u *ui) refresh() {
	u.async(func() {
		ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
		defer cancel()
		derr := u.m.RefreshDevices(ctx)
		serr := u.m.RefreshSessions(ctx)
		u.do(func() {
			u.devs.setError(derr)
			u.sess.setError(serr)
			u.render()
			if d, found, ok := u.m.TakeFollowed(); ok && found {
				u.connectDevice(d, "remote_control", "")
			} else if ok {
				dialog.ShowInformation("Remote control", "The link's device is not among the devices you may control.", u.win)
			}
		})
	})
}

// tick reloads from the relay every interval and ticks the queue's
// waiting times every second.
func (u *ui) tick(ctx context.Context, every time.Duration) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if u.m.Phase() != PhaseMain {
				continue
			}
			if now.Sub(last) >= every {
				last = now
				u.refresh()
			} else {
				u.do(u.sess.render)
			}
		}
	}
}

// connect runs connect with a progress dialog that can cancel it, then
// opens the session window (panel: "", "files", "chat").
func (u *ui) connect(title, waiting, panel string, connect func(ctx context.Context, progress func(string)) (*guest.Session, error)) {
	ctx, cancel := context.WithCancel(u.ctx)
	msg := widget.NewLabel(waiting)
	msg.Wrapping = fyne.TextWrapWord
	bar := widget.NewProgressBarInfinite()
	prog := dialog.NewCustom(title, "Cancel", container.NewVBox(msg, bar), u.win)
	prog.Resize(fyne.NewSize(420, 160))
	finished := false
	prog.SetOnClosed(func() {
		if !finished {
			cancel()
		}
	})
	prog.Show()
	u.async(func() {
		s, err := connect(ctx, func(text string) { u.do(func() { msg.SetText(text) }) })
		canceled := ctx.Err() != nil
		u.do(func() {
			bar.Stop()
			finished = true
			prog.Hide()
			cancel()
			switch {
			case err != nil && canceled:
				// The technician cancelled: nothing to report.
			case err != nil:
				u.showError(title, err)
			default:
				u.openSession(s, title, panel)
			}
			u.render()
		})
	})
}

func (u *ui) showError(title string, err error) {
	text := explain(err)
	if errors.Is(err, guest.ErrNotConfirmed) {
		text = "The session was not allowed: the confirmation was denied or nobody answered in time."
	}
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom(title, "OK", l, u.win)
	d.Resize(fyne.NewSize(440, 180))
	d.Show()
	u.log.Info("console: "+title+" failed", "err", err)
}

func (u *ui) openSession(s *guest.Session, title, panel string) {
	var w fyne.Window
	w = u.open(u.app, s, remoteOptions{Title: title, Logger: u.log, Panel: panel, OnClosed: func(err error) {
		u.mu.Lock()
		delete(u.sessions, s)
		u.mu.Unlock()
		if err != nil && !errors.Is(err, guest.ErrEnded) {
			u.log.Info("console: session ended", "err", err)
		}
	}})
	u.mu.Lock()
	u.sessions[s] = w
	u.mu.Unlock()
}

// closeSessions ends the sessions still open when the console quits.
func (u *ui) closeSessions() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.sessions {
		s.Close()
	}
}

// deviceActions are the actions of the devices tab: the relay action and
// the session window's side panel.
var deviceActions = []struct{ label, action, panel string }{
	{"Remote control", "remote_control", ""},
	{"File transfer", "file_transfer", "files"},
	{"Chat", "chat", "chat"},
}

func (u *ui) connectDevice(d wire.Device, action, panel string) {
	title := d.Name
	u.connect(title, "Connecting to "+d.Name+"…", panel, func(ctx context.Context, progress func(string)) (*guest.Session, error) {
		return u.m.Connect(ctx, d.ID, action, func(cf *wire.Confirmation) {
			progress(fmt.Sprintf("Waiting until someone allows it by email (until %s): %s",
				time.Unix(cf.ExpiresAt, 0).Format("15:04"), cf.Message))
		})
	})
}

func (u *ui) startOnDemand(s wire.OnDemandSession) {
	title := "OnDemand " + groupKey(s.Key)
	if s.Hostname != "" {
		title += " — " + s.Hostname
	}
	u.connect(title, "Waiting for the user to allow…", "", func(ctx context.Context, _ func(string)) (*guest.Session, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		return u.m.StartSession(ctx, s.Key)
	})
}
