package remote

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/transport/wire"
)

func describe(ms []wire.Message) string {
	var out []string
	for _, m := range ms {
		switch m := m.(type) {
		case *wire.Key:
			d := "up"
			if m.Down {
				d = "down"
			}
			out = append(out, m.Code+" "+d)
		case *wire.MouseMove:
			out = append(out, fmt.Sprintf("move %d,%d", m.X, m.Y))
		case *wire.MouseButton:
			d := "up"
			if m.Down {
				d = "down"
			}
			out = append(out, fmt.Sprintf("button %d %s", m.Button, d))
		case *wire.MouseWheel:
			out = append(out, fmt.Sprintf("wheel %d,%d", m.DX, m.DY))
		case *wire.Text:
			out = append(out, fmt.Sprintf("text %q", m.Text))
		default:
			out = append(out, fmt.Sprintf("%T", m))
		}
	}
	return strings.Join(out, "; ")
}

func TestModifierStateMachine(t *testing.T) {
	type step struct {
		op   string // click, double, after, release
		mod  Mod
		want ModState
		msgs string
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"click is on for one key", []step{
			{"click", ModCtrl, Once, "ControlLeft down"},
			{"after", ModCtrl, Off, "ControlLeft up"},
			{"after", ModCtrl, Off, ""},
		}},
		{"click again turns on off", []step{
			{"click", ModAlt, Once, "AltLeft down"},
			{"click", ModAlt, Off, "AltLeft up"},
		}},
		{"double click is always on", []step{
			{"double", ModShift, Always, "ShiftLeft down"},
			{"after", ModShift, Always, ""},
			{"after", ModShift, Always, ""},
			{"double", ModShift, Always, ""},
			{"click", ModShift, Off, "ShiftLeft up"},
		}},
		{"on then double click is always on without a second press", []step{
			{"click", ModMeta, Once, "MetaLeft down"},
			{"double", ModMeta, Always, ""},
			{"after", ModMeta, Always, ""},
			{"click", ModMeta, Off, "MetaLeft up"},
		}},
		{"release all", []step{
			{"double", ModCtrl, Always, "ControlLeft down"},
			{"click", ModAlt, Once, "AltLeft down"},
			{"release", ModCtrl, Off, "ControlLeft up; AltLeft up"},
			{"release", ModAlt, Off, ""},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m modifiers
			for i, s := range c.steps {
				var got []wire.Message
				switch s.op {
				case "click":
					got = m.Click(s.mod)
				case "double":
					got = m.DoubleClick(s.mod)
				case "after":
					got = m.AfterKey()
				case "release":
					got = m.ReleaseAll()
				}
				if d := describe(got); d != s.msgs {
					t.Fatalf("step %d %s %s: sent %q, want %q", i, s.op, modLabels[s.mod], d, s.msgs)
				}
				if st := m.State(s.mod); st != s.want {
					t.Fatalf("step %d %s %s: state %v, want %v", i, s.op, modLabels[s.mod], st, s.want)
				}
			}
		})
	}
}

// Once modifiers end together after one key; always-on ones stay.
func TestModifiersMixedAfterKey(t *testing.T) {
	var m modifiers
	m.Click(ModCtrl)
	m.DoubleClick(ModShift)
	m.Click(ModAlt)
	if d := describe(m.AfterKey()); d != "ControlLeft up; AltLeft up" {
		t.Fatalf("after key: %q", d)
	}
	if m.State(ModShift) != Always || m.State(ModCtrl) != Off || m.State(ModAlt) != Off {
		t.Fatalf("states: %v %v %v", m.State(ModShift), m.State(ModCtrl), m.State(ModAlt))
	}
	if !m.Held("ShiftLeft") || m.Held("ControlLeft") || m.Held("ShiftRight") {
		t.Fatal("Held disagrees with the states")
	}
}
