package console

import (
	"context"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Fyne's theme has no star: a favorite is a filled one, the others an outline.
var (
	starOn = theme.NewThemedResource(fyne.NewStaticResource("star-on.svg", []byte(
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#000" d="M12 2l3.1 6.3 6.9 1-5 4.9 1.2 6.8L12 17.8 5.8 21l1.2-6.8-5-4.9 6.9-1z"/></svg>`)))
	starOff = theme.NewThemedResource(fyne.NewStaticResource("star-off.svg", []byte(
		`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="none" stroke="#000" stroke-width="1.6" d="M12 2l3.1 6.3 6.9 1-5 4.9 1.2 6.8L12 17.8 5.8 21l1.2-6.8-5-4.9 6.9-1z"/></svg>`)))
)

var columnWidths = [numColumns]float32{36, 220, 170, 80, 140, 110, 220}

// devicesView is the "My devices" tab.
type devicesView struct {
	u        *ui
	view     fyne.CanvasObject
	filter   *widget.Entry
	table    *widget.Table
	rows     []wire.Device
	selected string // device id, kept across refreshes
	selLabel *widget.Label
	errLabel *widget.Label
	actions  []*widget.Button
	logged   string // the names last logged, to log changes only
}

func newDevicesView(u *ui) *devicesView {
	v := &devicesView{u: u, selLabel: widget.NewLabel("Select a device."), errLabel: errorLabel()}
	v.filter = widget.NewEntry()
	v.filter.SetPlaceHolder("Filter: name, status, OS, group, user, description…")
	v.filter.OnChanged = func(s string) { u.m.SetFilter(s); v.render() }
	v.table = widget.NewTableWithHeaders(
		func() (int, int) { return len(v.rows), int(numColumns) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return container.NewStack(l, widget.NewIcon(starOff))
		},
		v.updateCell)
	v.table.ShowHeaderColumn = false
	v.table.CreateHeader = func() fyne.CanvasObject {
		b := widget.NewButton("", nil)
		b.Importance = widget.LowImportance
		b.Alignment = widget.ButtonAlignLeading
		return b
	}
	v.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		b := o.(*widget.Button)
		col := Column(id.Col)
		text := columnTitles[col]
		if c, desc := u.m.Sort(); c == col {
			text += map[bool]string{false: " ▲", true: " ▼"}[desc]
		}
		b.SetText(text)
		b.OnTapped = func() { u.m.SortBy(col); v.render() }
	}
	for i, w := range columnWidths {
		v.table.SetColumnWidth(i, w)
	}
	v.table.OnSelected = func(id widget.TableCellID) {
		v.table.UnselectAll() // the whole row shows selected, in bold
		if id.Row < 0 || id.Row >= len(v.rows) {
			return
		}
		d := v.rows[id.Row]
		v.selected = d.ID
		if Column(id.Col) == ColFavorite {
			v.toggleFavorite(d.ID)
		}
		v.render()
	}
	for _, a := range deviceActions {
		b := widget.NewButton(a.label, func() {
			if d, ok := v.selectedDevice(); ok {
				u.connectDevice(d, a.action, a.panel)
			}
		})
		if a.action == "remote_control" {
			b.Importance = widget.HighImportance
			b.SetIcon(theme.ComputerIcon())
		}
		v.actions = append(v.actions, b)
	}
	bar := container.NewBorder(nil, nil, nil, container.NewHBox(v.actions[0], v.actions[1], v.actions[2]), v.selLabel)
	v.view = container.NewBorder(container.NewVBox(v.filter, bar, v.errLabel), nil, nil, nil, v.table)
	return v
}

func (v *devicesView) updateCell(id widget.TableCellID, o fyne.CanvasObject) {
	st := o.(*fyne.Container)
	l, icon := st.Objects[0].(*widget.Label), st.Objects[1].(*widget.Icon)
	if id.Row >= len(v.rows) {
		return
	}
	d := v.rows[id.Row]
	if Column(id.Col) == ColFavorite {
		l.Hide()
		icon.Show()
		if d.Favorite {
			icon.SetResource(starOn)
		} else {
			icon.SetResource(starOff)
		}
		return
	}
	icon.Hide()
	l.Show()
	l.TextStyle.Bold = d.ID == v.selected
	l.SetText(cell(d, Column(id.Col), v.u.m.now()))
}

func (v *devicesView) selectedDevice() (wire.Device, bool) {
	i := slices.IndexFunc(v.rows, func(d wire.Device) bool { return d.ID == v.selected })
	if i < 0 {
		return wire.Device{}, false
	}
	return v.rows[i], true
}

// render reloads the rows from the model, keeping the selection while the
// device is listed.
func (v *devicesView) render() {
	v.rows = v.u.m.Devices()
	names := make([]string, len(v.rows))
	for i, d := range v.rows {
		names[i] = d.Name
	}
	if shown := strings.Join(names, ","); shown != v.logged || v.logged == "" {
		v.logged = shown
		v.u.log.Debug("console: devices shown", "count", len(v.rows), "names", shown)
	}
	d, ok := v.selectedDevice()
	for _, b := range v.actions {
		if ok {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	switch {
	case ok:
		v.selLabel.SetText(d.Name + ": " + status(d.Online, d.LastSeen, v.u.m.now()))
	case len(v.rows) == 0:
		v.selLabel.SetText("No devices.")
	default:
		v.selLabel.SetText("Select a device.")
	}
	v.table.Refresh()
}

func (v *devicesView) setError(err error) {
	if err != nil {
		setError(v.errLabel, "Could not refresh the devices: "+explain(err))
	} else {
		setError(v.errLabel, "")
	}
}

func (v *devicesView) toggleFavorite(id string) {
	v.u.async(func() {
		ctx, cancel := context.WithTimeout(v.u.ctx, 20*time.Second)
		defer cancel()
		err := v.u.m.ToggleFavorite(ctx, id)
		v.u.do(func() {
			if err != nil {
				v.u.showError("Favorite", err)
			}
			v.u.render()
		})
	})
}
