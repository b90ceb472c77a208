package xext

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/dpms"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"

	"github.com/tandem-rc/tandem/internal/xvfb"
)

// One connection decodes a stream of pointer events while others open and
// initialize every extension: under -race, xgb's own Init calls here would
// report the write of its event tables against the reader (they did).
func TestInitWhileAnotherConnectionReads(t *testing.T) {
	if _, err := exec.LookPath("xdotool"); err != nil {
		t.Skip("xdotool not installed (scripts/deps.sh)")
	}
	x, err := xvfb.Start(320, 240)
	if err != nil {
		t.Skip("no Xvfb: ", err)
	}
	defer x.Close()

	a, err := Dial(x.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	root := xproto.Setup(a).DefaultScreen(a).Root
	if err := xproto.ChangeWindowAttributesChecked(a, root, xproto.CwEventMask,
		[]uint32{xproto.EventMaskPointerMotion}).Check(); err != nil {
		t.Fatal(err)
	}
	var events sync.WaitGroup
	events.Add(1)
	seen := 0
	go func() {
		defer events.Done()
		for {
			ev, err := a.WaitForEvent()
			if ev == nil && err == nil {
				return // closed
			}
			seen++
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	moves := x.Command(ctx, "sh", "-c", "for i in $(seq 1 200); do xdotool mousemove $((i % 300)) $((i % 200)); done")
	if err := moves.Start(); err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	go func() { moved <- moves.Wait() }()
	inits := []struct {
		name string
		init func(*xgb.Conn) error
	}{{"RANDR", randr.Init}, {"MIT-SHM", shm.Init}, {"XFIXES", xfixes.Init}, {"DAMAGE", damage.Init},
		{"DPMS", dpms.Init}, {"MIT-SCREEN-SAVER", screensaver.Init}}
	// Initialize on fresh connections for as long as the events flow.
	var movesErr error
	for i, done := 0, false; !done || i < 10; i++ {
		select {
		case movesErr = <-moved:
			done = true
		default:
		}
		b, err := Dial(x.Display)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range inits {
			if r, err := xproto.QueryExtension(b, uint16(len(e.name)), e.name).Reply(); err != nil || !r.Present {
				continue // Xvfb has no DPMS
			}
			if err := Init(b, e.name, e.init); err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
		}
		// The extension works on b: its opcode was recorded.
		if _, err := randr.QueryVersion(b, 1, 5).Reply(); err != nil {
			t.Fatalf("RANDR on a later connection: %v", err)
		}
		if _, err := damage.QueryVersion(b, 1, 1).Reply(); err != nil {
			t.Fatalf("DAMAGE on a later connection: %v", err)
		}
		b.Close()
	}
	if movesErr != nil {
		t.Fatal(movesErr)
	}
	a.Close()
	events.Wait()
	if seen == 0 {
		t.Fatal("the reading connection decoded no events")
	}
}

func TestInitMissingExtension(t *testing.T) {
	x, err := xvfb.Start(64, 64)
	if err != nil {
		t.Skip("no Xvfb: ", err)
	}
	defer x.Close()
	c, err := Dial(x.Display)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Init(c, "NO-SUCH-EXTENSION", randr.Init); err == nil {
		t.Fatal("an extension the server lacks initialized")
	}
}
