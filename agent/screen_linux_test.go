package agent

import (
	"context"
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/xvfb"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

const screenXterm = "tandem-screen-test"

// startScreenHost runs a host that captures a private Xvfb showing an xterm
// at the top left, and starts a session whose guest announces caps.
func startScreenHost(t *testing.T, sid string, caps ...string) (*xvfb.Server, map[string]*transport.Channel) {
	t.Helper()
	needTool(t, "xdotool")
	x := captest.StartX(t, 640, 480)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := x.Run(context.Background(), "xterm", "-geometry", "40x10+0+0", "-T", screenXterm, "-e", "sh", "-c", "exec sleep 600"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.WaitWindow(ctx, screenXterm); err != nil {
		t.Fatal(err)
	}
	f, _, dev := startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.Capture = func() (capture.Capturer, error) { return capture.Open(capture.Options{Display: x.Display}) }
	})
	f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: f.grant(t, sid, dev,
		[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, sid, caps...)
	return x, chans
}

func xdotool(t *testing.T, x *xvfb.Server, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := x.Command(ctx, "xdotool", args...).CombinedOutput(); err != nil {
		t.Fatalf("xdotool %v: %v %s", args, err, out)
	}
}

// waitPos reads control until a CursorPos at p whose shape id satisfies
// ok (nil: any) arrives, collecting the shapes sent before it. The shape
// may follow the position: X tells the pointer's new shape a moment after
// it moved, and the host then sends the same position with the new id.
func waitPos(t *testing.T, ch *transport.Channel, p image.Point, shapes map[uint32]*wire.CursorShape, ok func(id uint32) bool) *wire.CursorPos {
	t.Helper()
	for {
		switch m := recvType[wire.Message](t, ch).(type) {
		case *wire.CursorShape:
			shapes[m.ID] = m
		case *wire.CursorPos:
			if int(m.X) == p.X && int(m.Y) == p.Y && (ok == nil || ok(m.ID)) {
				return m
			}
		}
	}
}

// The pointer travels beside the screen to a guest that takes it: moves
// produce positions, entering the xterm its I-beam shape, sent once.
func TestCursorSentBesideScreen(t *testing.T) {
	x, chans := startScreenHost(t, "cursor", wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments, wire.CapCursor)
	ctl := chans[wire.ChannelControl]
	shapes := map[uint32]*wire.CursorShape{}
	xdotool(t, x, "mousemove", "600", "400")
	root := waitPos(t, ctl, image.Pt(600, 400), shapes, nil)
	if shapes[root.ID] == nil {
		t.Fatalf("position names shape %d that was never sent", root.ID)
	}
	xdotool(t, x, "mousemove", "20", "20")
	beam := waitPos(t, ctl, image.Pt(20, 20), shapes, func(id uint32) bool { return id != root.ID })
	if shapes[beam.ID] == nil {
		t.Fatalf("over the xterm: shape %d (root %d), sent shapes %d", beam.ID, root.ID, len(shapes))
	}
	if err := shapes[beam.ID].Validate(); err != nil {
		t.Fatal(err)
	}
	// Back to the root cursor: a known shape is not sent again.
	n := len(shapes)
	xdotool(t, x, "mousemove", "500", "300")
	waitPos(t, ctl, image.Pt(500, 300), shapes, func(id uint32) bool { return id == root.ID })
	if len(shapes) != n {
		t.Fatalf("back on the root: %d shapes sent (want %d)", len(shapes), n)
	}
}

// Without the capability no cursor message is sent.
func TestCursorNotSentUnasked(t *testing.T) {
	x, chans := startScreenHost(t, "nocursor", wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments, wire.CapPing)
	ctl := chans[wire.ChannelControl]
	xdotool(t, x, "mousemove", "600", "400")
	xdotool(t, x, "mousemove", "20", "20")
	// The host's pings come every second; two of them bracket a time in
	// which cursor messages would have been sent.
	for pings := 0; pings < 2; {
		switch m := recvType[wire.Message](t, ctl).(type) {
		case *wire.CursorShape, *wire.CursorPos:
			t.Fatalf("cursor message to a guest without %s: %#v", wire.CapCursor, m)
		case *wire.Ping:
			pings++
			if err := ctl.Send((*wire.Pong)(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// With DAMAGE the idle screen sends nothing (not even after the safety
// poll) and typing wakes the loop at once.
func TestDamageDrivenScreen(t *testing.T) {
	x, chans := startScreenHost(t, "damage", wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments)
	scr := chans[wire.ChannelScreen]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	frames := make(chan *wire.ScreenFrame, 100)
	go func() {
		for {
			m, err := scr.Recv(ctx)
			if err != nil {
				return
			}
			if f, ok := m.(*wire.ScreenFrame); ok {
				_ = scr.Send(&wire.FrameAck{Seq: f.Seq, CaptureNano: f.CaptureNano})
				frames <- f
			}
		}
	}()
	if f := <-frames; f.Data[2]&1 == 0 {
		t.Fatalf("first frame is not a keyframe (flags %#x)", f.Data[2])
	}
	// Idle: the keyframe then nothing for over a safety poll.
	idle := time.NewTimer(safetyPoll + safetyPoll/2)
	for settled := false; !settled; {
		select {
		case f := <-frames:
			// The xterm may still draw after the keyframe: start again.
			t.Logf("frame %d while settling", f.Seq)
			idle.Reset(safetyPoll + safetyPoll/2)
		case <-idle.C:
			settled = true
		case <-ctx.Done():
			t.Fatal("the screen never went idle")
		}
	}
	win, err := x.WaitWindow(ctx, screenXterm)
	if err != nil {
		t.Fatal(err)
	}
	xdotool(t, x, "windowfocus", "--sync", win)
	xdotool(t, x, "type", "--delay", "0", "hello")
	select {
	case f := <-frames:
		if f.Data[2]&1 != 0 || len(f.Data) > 4096 {
			t.Fatalf("typing sent a keyframe or %d bytes", len(f.Data))
		}
	case <-ctx.Done():
		t.Fatal("typing into the xterm sent no frame")
	}
}

// The PREDICT flag goes only to guests that announce they decode it, and
// such a guest's decoder rebuilds the screen exactly.
func TestScreenPredictNegotiated(t *testing.T) {
	f, _, dev := startHost(t, &recordingInjector{})
	for i, c := range []struct {
		caps []string
		flag byte
	}{
		{[]string{wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments}, 0},
		{[]string{wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapFragments, wire.CapScreenPredict}, codec.FlagPredict},
	} {
		sid := fmt.Sprintf("pred-%d", i)
		f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: f.grant(t, sid, dev,
			[]string{string(policy.ViewScreen)}, time.Now().Add(time.Minute), f.key)})
		p, chans := guestPeer(t, f, sid, c.caps...)
		fr := recvType[*wire.ScreenFrame](t, chans[wire.ChannelScreen])
		if fr.Codec != wire.CodecTilesV2 || fr.Data[2]&codec.FlagPredict != c.flag {
			t.Fatalf("caps %v: codec %d flags %#x", c.caps, fr.Codec, fr.Data[2])
		}
		dec := codec.NewDecoder(codec.Limits{})
		if _, err := dec.Decode(fr.Data); err != nil {
			t.Fatal(err)
		}
		want := newFakeCapturer().img
		got := dec.Image()
		for y := 0; y < want.Height; y++ {
			for x := 0; x < want.Width; x++ {
				o, q := y*want.Stride+x*4, got.PixOffset(x, y)
				if got.Pix[q] != want.Pix[o+2] || got.Pix[q+1] != want.Pix[o+1] || got.Pix[q+2] != want.Pix[o] {
					t.Fatalf("caps %v: pixel (%d,%d) differs", c.caps, x, y)
				}
			}
		}
		dec.Close()
		p.Close()
	}
}
