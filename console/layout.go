package console

import "fyne.io/fyne/v2"

// columnsLayout places its objects side by side at fixed widths (the last
// one takes what is left), so the queue's header and rows line up.
type columnsLayout struct{ widths []float32 }

func (l columnsLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for i, o := range objs {
		m := o.MinSize()
		if i < len(l.widths) {
			s.Width += l.widths[i]
		} else {
			s.Width += m.Width
		}
		s.Height = max(s.Height, m.Height)
	}
	return s
}

func (l columnsLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	x := float32(0)
	for i, o := range objs {
		w := size.Width - x
		if i < len(l.widths) && i < len(objs)-1 {
			w = l.widths[i]
		}
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w, size.Height))
		x += w
	}
}

// widthLayout gives its objects one fixed width and the height they need:
// wrapped text (the login errors) grows downwards instead of overlapping.
type widthLayout struct{ width float32 }

func (l widthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objs {
		o.Resize(fyne.NewSize(l.width, o.MinSize().Height))
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(l.width, h)
}

func (l widthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(fyne.NewSize(l.width, size.Height))
	}
}
