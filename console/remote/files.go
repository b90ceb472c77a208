package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// filesPanel browses the host's transfer folder and runs uploads and
// downloads, each with a progress bar and a cancel button. Remote paths are
// relative to the host's transfer root, with "/" separators.
type filesPanel struct {
	w         *window
	root      fyne.CanvasObject
	dir       string
	loaded    bool
	entries   []wire.FileEntry
	selected  int
	pathLbl   *widget.Label
	list      *widget.List
	transfers *fyne.Container
	buttons   []fyne.Disableable
	download  *widget.Button
}

func newFilesPanel(w *window) *filesPanel {
	f := &filesPanel{w: w, selected: -1, pathLbl: widget.NewLabel("/"), transfers: container.NewVBox()}
	f.list = widget.NewList(func() int { return len(f.entries) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			e := f.entries[i]
			if e.Mode&wire.FileModeDir != 0 {
				o.(*widget.Label).SetText("📁 " + e.Name + "/")
			} else {
				o.(*widget.Label).SetText(fmt.Sprintf("%s  (%s)", e.Name, sizeText(int64(e.Size))))
			}
		})
	f.list.OnSelected = func(i widget.ListItemID) {
		e := f.entries[i]
		if e.Mode&wire.FileModeDir != 0 {
			f.list.UnselectAll()
			f.cd(path.Join(f.dir, e.Name))
			return
		}
		f.selected = i
		f.download.Enable()
	}
	f.list.OnUnselected = func(widget.ListItemID) { f.selected = -1; f.download.Disable() }
	up := widget.NewButton("Up", func() {
		if f.dir != "" {
			f.cd(path.Dir(f.dir))
		}
	})
	refresh := widget.NewButton("Refresh", f.refresh)
	upload := widget.NewButton("Upload…", f.chooseUpload)
	f.download = widget.NewButton("Download…", f.chooseDownload)
	f.download.Disable()
	f.buttons = []fyne.Disableable{up, refresh, upload}
	top := container.NewVBox(widget.NewLabelWithStyle("Files on the device", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		container.NewBorder(nil, nil, up, refresh, f.pathLbl), container.NewHBox(upload, f.download))
	tr := container.NewVScroll(f.transfers)
	tr.SetMinSize(fyne.NewSize(320, 120))
	f.root = container.NewBorder(top, tr, nil, nil, f.list)
	return f
}

func (f *filesPanel) opened() {
	if !f.loaded {
		f.refresh()
	}
}

func (f *filesPanel) cd(dir string) {
	if dir == "." || dir == "/" {
		dir = ""
	}
	f.dir = dir
	f.refresh()
}

// refresh lists the current folder; the list keeps its old entries until
// the answer comes.
func (f *filesPanel) refresh() {
	dir := f.dir
	f.pathLbl.SetText("/" + dir)
	go func() {
		ctx, cancel := context.WithTimeout(f.w.ctx, opTimeout)
		defer cancel()
		l, err := f.w.s.Files().List(ctx, dir)
		f.w.do(func() {
			if dir != f.dir {
				return // the technician moved on
			}
			if err != nil {
				f.w.notice("Could not list /" + dir + ": " + friendly(err))
				return
			}
			f.loaded = true
			f.entries = sortedEntries(l.Entries)
			f.selected = -1
			f.list.UnselectAll()
			f.download.Disable()
			f.list.Refresh()
			if l.Truncated {
				f.w.notice("The folder has more entries than a listing carries; only the first are shown.")
			}
		})
	}()
}

func (f *filesPanel) chooseUpload() {
	dir := f.dir
	dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		local := r.URI().Path()
		r.Close()
		f.upload(local, path.Join(dir, filepath.Base(local)), false)
	}, f.w.win)
}

func (f *filesPanel) chooseDownload() {
	if f.selected < 0 || f.selected >= len(f.entries) {
		return
	}
	name := f.entries[f.selected].Name
	remote := path.Join(f.dir, name)
	dialog.ShowFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil || u == nil {
			return
		}
		f.fetch(remote, filepath.Join(u.Path(), name), false)
	}, f.w.win)
}

// upload sends local to remote on the host.
func (f *filesPanel) upload(local, remote string, overwrite bool) *transferRow {
	return f.start("↑ "+remote, func(ctx context.Context, o guest.TransferOptions) error {
		o.Overwrite = overwrite
		_, err := f.w.s.Files().Put(ctx, local, remote, o)
		return err
	}, func() { f.upload(local, remote, true) }, true)
}

// fetch fetches remote from the host into local, asking first if
// local exists (nil then: nothing started yet).
func (f *filesPanel) fetch(remote, local string, overwrite bool) *transferRow {
	if _, err := os.Lstat(local); err == nil && !overwrite {
		dialog.ShowConfirm("Replace the file?", "This file exists here:\n"+local+"\nReplace it?", func(ok bool) {
			if ok {
				f.fetch(remote, local, true)
			}
		}, f.w.win)
		return nil
	}
	return f.start("↓ "+local, func(ctx context.Context, o guest.TransferOptions) error {
		o.Overwrite = overwrite
		_, err := f.w.s.Files().Get(ctx, remote, local, o)
		return err
	}, func() { f.fetch(remote, local, true) }, false)
}

// transferRow is one transfer's line: name, progress bar, cancel.
type transferRow struct {
	label  *widget.Label
	bar    *widget.ProgressBar
	cancel *widget.Button
	done   chan error // receives the result once (tests)
	total  atomic.Int64
	sofar  atomic.Int64
	pend   atomic.Bool
}

func (f *filesPanel) start(name string, run func(context.Context, guest.TransferOptions) error, overwrite func(), upload bool) *transferRow {
	ctx, cancel := context.WithCancel(f.w.ctx)
	t := &transferRow{label: widget.NewLabel(name), bar: widget.NewProgressBar(), done: make(chan error, 1)}
	t.cancel = widget.NewButton("Cancel", cancel)
	f.transfers.Add(container.NewBorder(t.label, nil, nil, t.cancel, t.bar))
	progress := func(done, total int64) {
		t.sofar.Store(done)
		t.total.Store(total)
		if t.pend.CompareAndSwap(false, true) {
			f.w.do(func() {
				t.pend.Store(false)
				if n := t.total.Load(); n > 0 {
					t.bar.SetValue(float64(t.sofar.Load()) / float64(n))
				}
			})
		}
	}
	go func() {
		err := run(ctx, guest.TransferOptions{Progress: progress})
		cancel()
		f.w.do(func() {
			t.cancel.Disable()
			switch {
			case err == nil:
				t.bar.SetValue(1)
				t.label.SetText(name + " — done")
				if upload {
					f.refresh()
				}
			case errors.Is(err, context.Canceled):
				t.label.SetText(name + " — cancelled")
			case isExists(err):
				t.label.SetText(name + " — not replaced")
				dialog.ShowConfirm("Replace the file?", "The destination exists:\n"+name+"\nReplace it?", func(ok bool) {
					if ok {
						overwrite()
					}
				}, f.w.win)
			default:
				t.label.SetText(name + " — failed: " + friendly(err))
			}
		})
		t.done <- err
	}()
	return t
}

// isExists: the destination exists and overwriting was not asked for.
func isExists(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code == wire.ErrCodeExists
	}
	return false
}

func (f *filesPanel) sessionEnded() {
	for _, b := range f.buttons {
		b.Disable()
	}
	f.download.Disable()
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
