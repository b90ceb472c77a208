package remote

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// modButton is a toolbar modifier: a click is Tapped, a double click
// DoubleTapped (Fyne delivers one or the other, never both).
type modButton struct {
	widget.Button
	label    string
	onDouble func()
}

var _ fyne.DoubleTappable = (*modButton)(nil)

func newModButton(label string, onTap, onDouble func()) *modButton {
	b := &modButton{label: label, onDouble: onDouble}
	b.Text = label
	b.OnTapped = onTap
	b.ExtendBaseWidget(b)
	return b
}

func (b *modButton) DoubleTapped(*fyne.PointEvent) {
	if !b.Disabled() && b.onDouble != nil {
		b.onDouble()
	}
}

// setState shows off as a plain button, on as highlighted, always on as
// highlighted and marked "(always)".
func (b *modButton) setState(s ModState) {
	switch s {
	case Off:
		b.Text, b.Importance = b.label, widget.MediumImportance
	case Once:
		b.Text, b.Importance = b.label, widget.HighImportance
	case Always:
		b.Text, b.Importance = b.label+" (always)", widget.WarningImportance
	}
	b.Refresh()
}
