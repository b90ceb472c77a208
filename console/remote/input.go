package remote

import (
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/tandem-rc/tandem/transport/wire"
)

// sink is where input goes: the session, or a recorder in tests.
type sink interface {
	Send(wire.Message) error
}

// inputState turns the view's Fyne events into wire input, in order. It
// is used from the UI goroutine only.
type inputState struct {
	out  sink
	mods modifiers
	// keys and buttons the host holds down because of us, so they can be
	// released when focus or the session goes (a key whose up event went to
	// another window would otherwise stay down on the host).
	keys    map[string]bool
	buttons map[uint8]bool
	// text: the last key down had no code, so its typed rune is sent as
	// text; runes of keys sent by code are the host's to produce.
	text bool
	// wheel remainders below one notch (touchpads scroll in small steps).
	wheelX, wheelY float32
	onErr          func(error)
	onMods         func() // the toolbar's states changed by themselves
}

func newInputState(out sink, onErr func(error)) *inputState {
	return &inputState{out: out, keys: map[string]bool{}, buttons: map[uint8]bool{}, onErr: onErr}
}

func (in *inputState) send(ms ...wire.Message) {
	for _, m := range ms {
		if err := in.out.Send(m); err != nil {
			if in.onErr != nil {
				in.onErr(err)
			}
			return
		}
	}
}

func (in *inputState) keyDown(ev *fyne.KeyEvent) {
	code := keyCode(ev)
	in.text = code == ""
	if code == "" || in.mods.Held(code) {
		return // the toolbar holds it already
	}
	in.keys[code] = true
	in.send(&wire.Key{Code: code, Down: true})
}

func (in *inputState) keyUp(ev *fyne.KeyEvent) {
	code := keyCode(ev)
	if code == "" || !in.keys[code] {
		return // never pressed through us (focus came with the key down)
	}
	delete(in.keys, code)
	in.send(&wire.Key{Code: code, Down: false})
	if !isModifierCode(code) {
		in.afterKey()
	}
}

// afterKey releases the toolbar's one-key modifiers.
func (in *inputState) afterKey() {
	if ms := in.mods.AfterKey(); len(ms) > 0 {
		in.send(ms...)
		if in.onMods != nil {
			in.onMods()
		}
	}
}

// typedRune sends a character whose key has no code (é on a French
// keyboard, a composed character), as text.
func (in *inputState) typedRune(r rune) {
	if !in.text || !unicode.IsPrint(r) {
		return
	}
	in.send(&wire.Text{Text: string(r)})
	in.afterKey()
}

func (in *inputState) clickMod(k Mod)       { in.send(in.mods.Click(k)...) }
func (in *inputState) doubleClickMod(k Mod) { in.send(in.mods.DoubleClick(k)...) }

func (in *inputState) move(p remotePoint) {
	in.send(&wire.MouseMove{X: p.X, Y: p.Y})
}

// wireButton maps Fyne's buttons to the wire's (1 left, 2 middle, 3 right).
func wireButton(b desktop.MouseButton) uint8 {
	switch b {
	case desktop.MouseButtonPrimary:
		return 1
	case desktop.MouseButtonTertiary:
		return 2
	case desktop.MouseButtonSecondary:
		return 3
	}
	return 0
}

// button moves the pointer to p and presses or releases b there: the
// move first, so a click lands where it was made even if no hover event
// came before it.
func (in *inputState) button(p remotePoint, b desktop.MouseButton, down bool) {
	wb := wireButton(b)
	if wb == 0 {
		return
	}
	if !down && !in.buttons[wb] {
		return // pressed outside the view
	}
	in.move(p)
	if down {
		in.buttons[wb] = true
	} else {
		delete(in.buttons, wb)
	}
	in.send(&wire.MouseButton{Button: wb, Down: down})
}

// wheel turns Fyne scroll deltas into notches. Fyne's DY > 0 means "scroll
// up" (wheel away from the user); the wire's DY > 0 scrolls down.
func (in *inputState) wheel(p remotePoint, d fyne.Delta) {
	in.wheelX += d.DX
	in.wheelY += d.DY
	nx := int(in.wheelX / fyneNotch)
	ny := int(in.wheelY / fyneNotch)
	if nx == 0 && ny == 0 {
		return
	}
	in.wheelX -= float32(nx) * fyneNotch
	in.wheelY -= float32(ny) * fyneNotch
	in.move(p)
	in.send(&wire.MouseWheel{DX: int16(-nx), DY: int16(-ny)})
}

// releaseHeld lifts every key and button held through the view: focus
// left it, so their up events will go elsewhere. The toolbar's modifiers
// stay (clicking the toolbar is what takes the focus).
func (in *inputState) releaseHeld() {
	for code := range in.keys {
		in.send(&wire.Key{Code: code, Down: false})
	}
	clear(in.keys)
	for b := range in.buttons {
		in.send(&wire.MouseButton{Button: b, Down: false})
	}
	clear(in.buttons)
}

// releaseAll is releaseHeld plus the toolbar's modifiers: the window closes.
func (in *inputState) releaseAll() {
	in.releaseHeld()
	in.send(in.mods.ReleaseAll()...)
}
