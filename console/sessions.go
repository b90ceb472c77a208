package console

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/transport/wire"
)

// sessionsView is the "My sessions" tab: OnDemand keys and the queue.
type sessionsView struct {
	u        *ui
	view     fyne.CanvasObject
	create   *widget.Button
	list     *widget.List
	rows     []wire.OnDemandSession
	empty    *widget.Label
	errLabel *widget.Label
	// widgets maps a list row's container to its widgets.
	widgets   map[fyne.CanvasObject]*sessionRow
	keyDialog *keyDialog // the last one shown
}

// queueColumns are the queue's column widths; Start and Reject take the rest.
var queueColumns = columnsLayout{widths: []float32{110, 80, 170, 75, 200, 185}}

// sessionRow is one line of the queue.
type sessionRow struct {
	key, state, by, waited, machine, perms *widget.Label
	start, reject                          *widget.Button
}

func newSessionsView(u *ui) *sessionsView {
	v := &sessionsView{u: u, errLabel: errorLabel(), widgets: map[fyne.CanvasObject]*sessionRow{},
		empty: widget.NewLabel("No OnDemand sessions. Create one and give its key or link to the person you help.")}
	v.create = widget.NewButtonWithIcon("Create session", theme.ContentAddIcon(), v.createSession)
	v.create.Importance = widget.HighImportance
	v.list = widget.NewList(func() int { return len(v.rows) }, v.newRow, v.updateRow)
	head := container.New(queueColumns, bold("Key"), bold("State"), bold("Created by"), bold("Waiting"),
		bold("Machine"), bold("Your permissions"), widget.NewLabel(""))
	v.view = container.NewBorder(container.NewVBox(container.NewHBox(v.create), v.errLabel, v.empty, head), nil, nil, nil, v.list)
	return v
}

func bold(s string) *widget.Label {
	return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func (v *sessionsView) newRow() fyne.CanvasObject {
	l := func() *widget.Label {
		x := widget.NewLabel("")
		x.Truncation = fyne.TextTruncateEllipsis
		return x
	}
	r := &sessionRow{key: l(), state: l(), by: l(), waited: l(), machine: l(), perms: l(),
		start:  widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), nil),
		reject: widget.NewButtonWithIcon("Reject", theme.CancelIcon(), nil)}
	r.key.TextStyle.Bold = true
	c := container.New(queueColumns, r.key, r.state, r.by, r.waited, r.machine, r.perms, container.NewHBox(r.start, r.reject))
	v.widgets[c] = r
	return c
}

func (v *sessionsView) updateRow(i widget.ListItemID, o fyne.CanvasObject) {
	r := v.widgets[o]
	if r == nil || i >= len(v.rows) {
		return
	}
	s := v.rows[i]
	now := v.u.m.now()
	r.key.SetText(groupKey(s.Key))
	r.state.SetText(s.State)
	r.by.SetText(s.CreatedBy)
	r.waited.SetText(waited(s.JoinedAt, now))
	machine := s.Hostname
	if s.OS != "" {
		machine += " · " + s.OS
	}
	if s.User != "" {
		machine += " · " + s.User
	}
	r.machine.SetText(machine)
	if s.State == wire.OnDemandCreated {
		r.perms.SetText("")
	} else {
		r.perms.SetText(permissions(s.Permissions))
	}
	r.start.OnTapped = func() { v.u.startOnDemand(s) }
	if s.State == wire.OnDemandWaiting && len(s.Permissions) > 0 {
		r.start.Enable()
	} else {
		r.start.Disable()
	}
	r.reject.OnTapped = func() { v.confirmReject(s) }
}

func (v *sessionsView) render() {
	v.rows = v.u.m.Sessions()
	if len(v.rows) == 0 {
		v.empty.Show()
	} else {
		v.empty.Hide()
	}
	v.list.Refresh()
}

func (v *sessionsView) setError(err error) {
	if err != nil {
		setError(v.errLabel, "Could not refresh the sessions: "+explain(err))
	} else {
		setError(v.errLabel, "")
	}
}

func (v *sessionsView) call(f func(ctx context.Context) error, done func(error)) {
	v.u.async(func() {
		ctx, cancel := context.WithTimeout(v.u.ctx, 20*time.Second)
		defer cancel()
		err := f(ctx)
		v.u.do(func() { done(err); v.u.render() })
	})
}

func (v *sessionsView) confirmReject(s wire.OnDemandSession) {
	what := "Reject session " + groupKey(s.Key) + "? The key can no longer be used"
	if s.Hostname != "" {
		what += " and the agent on " + s.Hostname + " exits"
	}
	dialog.ShowConfirm("Reject session", what+".", func(ok bool) {
		if !ok {
			return
		}
		v.call(func(ctx context.Context) error { return v.u.m.RejectSession(ctx, s.Key) }, func(err error) {
			if err != nil {
				v.u.showError("Reject session", err)
			}
		})
	}, v.u.win)
}

func (v *sessionsView) createSession() {
	v.create.Disable()
	var s *wire.OnDemandSession
	v.call(func(ctx context.Context) (err error) { s, err = v.u.m.CreateSession(ctx); return err }, func(err error) {
		v.create.Enable()
		if err != nil {
			v.u.showError("Create session", err)
			return
		}
		v.showKey(*s)
	})
}

// showKey is the dialog of a new key: the key read out on the phone, the
// link to copy or send by email.
func (v *sessionsView) showKey(s wire.OnDemandSession) {
	key := widget.NewLabelWithStyle(groupKey(s.Key), fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	key.SizeName = theme.SizeNameHeadingText
	link := widget.NewLabel(s.Link)
	link.Selectable = true
	result := widget.NewLabel("")
	result.Wrapping = fyne.TextWrapWord
	result.Hide()
	say := func(msg string, bad bool) {
		result.SetText(msg)
		result.Importance = widget.SuccessImportance
		if bad {
			result.Importance = widget.DangerImportance
		}
		result.Show()
		result.Refresh()
	}
	copyBtn := widget.NewButtonWithIcon("Copy link", theme.ContentCopyIcon(), func() {
		v.u.app.Clipboard().SetContent(s.Link)
		say("Link copied to the clipboard.", false)
	})
	email := widget.NewEntry()
	email.SetPlaceHolder("end.user@example.com")
	var send *widget.Button
	send = widget.NewButtonWithIcon("Send", theme.MailSendIcon(), func() {
		addr := email.Text
		send.Disable()
		v.call(func(ctx context.Context) error { return v.u.m.EmailSession(ctx, s.Key, addr) }, func(err error) {
			send.Enable()
			if err != nil {
				say("Not sent: "+explain(err), true)
				return
			}
			say("Sent to "+addr+".", false)
		})
	})
	email.OnSubmitted = func(string) { send.OnTapped() }
	help := widget.NewLabel("Give this key to the person you help, or the link: it downloads the OnDemand agent. The key is valid 24 hours, once.")
	help.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(help, key, container.NewBorder(nil, nil, nil, copyBtn, link),
		widget.NewLabel("Send by email:"), container.NewBorder(nil, nil, nil, send, email), result)
	d := dialog.NewCustom("New OnDemand session", "Close", content, v.u.win)
	d.Resize(fyne.NewSize(520, 360))
	d.Show()
	v.keyDialog = &keyDialog{d: d, copy: copyBtn, email: email, send: send, result: result, key: key}
}

// keyDialog is a key dialog's widgets.
type keyDialog struct {
	d      dialog.Dialog
	copy   *widget.Button
	send   *widget.Button
	email  *widget.Entry
	result *widget.Label
	key    *widget.Label
}
