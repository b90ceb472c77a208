package remote

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/transport/wire"
)

// chatPanel is the chat with the host's local user (guest.Chat).
type chatPanel struct {
	w      *window
	root   fyne.CanvasObject
	lines  *fyne.Container
	scroll *container.Scroll
	entry  *widget.Entry
	send   *widget.Button
}

func newChatPanel(w *window) *chatPanel {
	c := &chatPanel{w: w, lines: container.NewVBox()}
	c.scroll = container.NewVScroll(c.lines)
	c.entry = widget.NewMultiLineEntry()
	c.entry.SetPlaceHolder("Message to the user at the device")
	c.entry.SetMinRowsVisible(2)
	c.send = widget.NewButton("Send", func() { c.submit(c.entry.Text) })
	bottom := container.NewBorder(nil, nil, nil, c.send, c.entry)
	c.root = container.NewBorder(widget.NewLabelWithStyle("Chat", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		bottom, nil, nil, c.scroll)
	return c
}

// add appends one line to the conversation and returns its label.
func (c *chatPanel) add(who string, at time.Time, text string) *widget.Label {
	l := widget.NewLabel(fmt.Sprintf("%s %s: %s", at.Format("15:04"), who, text))
	l.Wrapping = fyne.TextWrapWord
	c.lines.Add(l)
	c.scroll.ScrollToBottom()
	return l
}

// submit sends text to the local user; it stays in the entry if refused
// before sending, and the line says so if the host refuses it.
func (c *chatPanel) submit(text string) {
	if text == "" {
		return
	}
	if err := wire.ValidChatText(text); err != nil {
		c.w.notice("Message not sent: " + friendly(err))
		return
	}
	c.entry.SetText("")
	line := c.add("You", time.Now(), text)
	go func() {
		ctx, cancel := context.WithTimeout(c.w.ctx, opTimeout)
		defer cancel()
		err := c.w.s.Chat().Send(ctx, text)
		if err == nil {
			return
		}
		c.w.do(func() {
			line.SetText(line.Text + "  — not delivered: " + friendly(err))
		})
	}()
}

// receive shows the local user's messages until the session or the window ends.
func (c *chatPanel) receive() {
	msgs := c.w.s.Chat().Messages()
	for {
		select {
		case m := <-msgs:
			c.w.do(func() {
				c.add("User", m.Time, m.Text)
				if c.w.panel != "chat" {
					c.w.chatBtn.Importance = widget.HighImportance
					c.w.chatBtn.Refresh()
					c.w.notice("New chat message from the user: open Chat to answer.")
				}
			})
		case <-c.w.s.Done():
			return
		case <-c.w.ctx.Done():
			return
		}
	}
}

func (c *chatPanel) sessionEnded() {
	c.entry.Disable()
	c.send.Disable()
}
