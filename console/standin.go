package console

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
)

// remoteOptions mirror console/remote's Options.
type remoteOptions struct {
	Title    string
	Logger   *slog.Logger
	OnClosed func(err error)
	Panel    string // "", "files" or "chat"
}

// openSession shows a connected session in a window of its own.
// STAND-IN: replaced at merge by console/remote.Open (the real
// remote-control window); this one shows the session's first snapshot.
// At merge its body becomes:
//
//	return remote.Open(a, s, remote.Options{Title: o.Title, Logger: o.Logger, OnClosed: o.OnClosed, Panel: o.Panel})
var openSession = func(a fyne.App, s *guest.Session, o remoteOptions) fyne.Window {
	w := a.NewWindow(o.Title)
	img := canvas.NewImageFromImage(nil)
	img.FillMode = canvas.ImageFillContain
	img.SetMinSize(fyne.NewSize(640, 400))
	note := widget.NewLabel("Connected. (Session window stand-in: the remote-control window replaces it.)")
	if o.Panel != "" {
		note.SetText(note.Text + " Panel: " + o.Panel)
	}
	var once sync.Once
	end := func(err error) {
		once.Do(func() {
			s.Close()
			if o.OnClosed != nil {
				o.OnClosed(err)
			}
		})
	}
	w.SetContent(container.NewBorder(note, nil, nil, nil, img))
	w.SetOnClosed(func() { end(nil) })
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if frame, _, err := s.Snapshot(ctx); err == nil {
			fyne.Do(func() { img.Image = frame; img.Refresh() })
		}
	}()
	go func() {
		<-s.Done()
		err := s.Err()
		fyne.Do(func() { end(err); w.Close() })
	}()
	w.Show()
	return w
}
