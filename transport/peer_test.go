package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/transport/wire"
)

func TestPeersLoopback(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	hcfg := loopbackConfig()
	hcfg.Setting = &webrtc.SettingEngine{} // copied, with Loopback applied on top
	hcfg.Setting.SetICETimeouts(10*time.Second, 20*time.Second, time.Second)
	p := newPair(t, ctx, loopbackConfig(), hcfg, 1)
	p.waitConnected(t, ctx)

	if early, errs := p.g2h.stats(); early == 0 || len(errs) > 0 {
		t.Fatalf("guest→host: %d candidates before the offer, errors %v", early, errs)
	}
	if early, errs := p.h2g.stats(); early == 0 || len(errs) > 0 {
		t.Fatalf("host→guest: %d candidates before the answer, errors %v", early, errs)
	}
	for _, peer := range []*Peer{p.guest, p.host} {
		local, remote, err := peer.SelectedPair()
		if err != nil {
			t.Fatal(err)
		}
		// On loopback the pair is host↔host (or peer-reflexive when a check
		// beats the candidate's signal).
		if (local != "host" && local != "prflx") || (remote != "host" && remote != "prflx") {
			t.Errorf("selected pair %s/%s", local, remote)
		}
	}

	// All channels open, and messages go both ways on each.
	for _, label := range Labels {
		g, h := p.channels(t, ctx, label)
		if g.Label() != label || h.Label() != label {
			t.Fatalf("labels %q %q", g.Label(), h.Label())
		}
		ping := &wire.Ping{ID: 1, Nano: 42}
		if err := g.Send(ping); err != nil {
			t.Fatal(err)
		}
		if m, err := h.Recv(ctx); err != nil || !reflect.DeepEqual(m, ping) {
			t.Fatalf("%s: host got %#v, %v", label, m, err)
		}
		pong := &wire.Pong{ID: 1, Nano: 42}
		if err := h.Send(pong); err != nil {
			t.Fatal(err)
		}
		if m, err := g.Recv(ctx); err != nil || !reflect.DeepEqual(m, pong) {
			t.Fatalf("%s: guest got %#v, %v", label, m, err)
		}
	}

	// A 5 MB frame is fragmented and arrives intact, between small messages.
	gs, hs := p.channels(t, ctx, wire.ChannelScreen)
	data := make([]byte, 5<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>13)
	}
	frame := &wire.ScreenFrame{Seq: 7, CaptureNano: 1, X: -5, Y: 9, Codec: wire.CodecTilesV1, Data: data}
	before := p.host.BytesReceived()
	recvd := make(chan error, 1)
	go func() {
		for i, want := range []wire.Message{&wire.KeyframeRequest{}, frame, &wire.Bye{Reason: "after"}} {
			m, err := hs.Recv(ctx)
			if err != nil {
				recvd <- err
				return
			}
			if !reflect.DeepEqual(m, want) {
				if f, ok := m.(*wire.ScreenFrame); ok {
					recvd <- errors.New("frame differs: " + describeFrame(f, frame))
				} else {
					recvd <- fmt.Errorf("message %d: got %#v", i, m)
				}
				return
			}
		}
		recvd <- nil
	}()
	for _, m := range []wire.Message{&wire.KeyframeRequest{}, frame, &wire.Bye{Reason: "after"}} {
		if err := gs.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-recvd; err != nil {
		t.Fatal(err)
	}
	// The transport's byte count (the consoles' bytes/s bench) saw it all.
	if got := p.host.BytesReceived() - before; got < uint64(len(data)) {
		t.Errorf("the host's transport counted %d bytes for a %d-byte frame", got, len(data))
	}

	// Closing one side ends the other.
	gc, hc := p.channels(t, ctx, wire.ChannelControl)
	if err := p.guest.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.host.Done():
	case <-ctx.Done():
		t.Fatal("host not done after the guest closed")
	}
	if err := p.guest.Err(); err != nil {
		t.Errorf("guest Err after Close = %v, want nil", err)
	}
	if err := p.host.Err(); !errors.Is(err, ErrRemoteClosed) {
		t.Errorf("host Err = %v, want ErrRemoteClosed", err)
	}
	if err := gc.Send(&wire.Ping{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := hc.Recv(ctx); !errors.Is(err, ErrRemoteClosed) {
		t.Errorf("host Recv after the remote closed = %v", err)
	}
	if _, err := p.host.Channel(ctx, wire.ChannelInput); !errors.Is(err, ErrRemoteClosed) {
		t.Errorf("Channel after done = %v", err)
	}
	if err := p.guest.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func describeFrame(got, want *wire.ScreenFrame) string {
	if len(got.Data) != len(want.Data) {
		return fmt.Sprintf("data length %d, want %d", len(got.Data), len(want.Data))
	}
	for i := range got.Data {
		if got.Data[i] != want.Data[i] {
			return fmt.Sprintf("data differs at byte %d", i)
		}
	}
	return fmt.Sprintf("header %+v", *got)
}

// Bad bytes on a channel are reported and skipped; the channel goes on.
func TestChannelProtocolErrors(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	p := newPair(t, ctx, loopbackConfig(), loopbackConfig(), 0)
	p.waitConnected(t, ctx)
	g, h := p.channels(t, ctx, wire.ChannelInput)
	h.reasm.Max = 1000 // so "oversized" is cheap to send

	ok := &wire.MouseMove{X: 1, Y: 2}
	tests := []struct {
		name string
		send func() error
		want error
	}{
		{"bad fragment flag", func() error { return g.dc.Send([]byte{0x07, 0x20, 0, 0, 0, 1, 0, 0, 0, 2}) }, wire.ErrMalformed},
		{"unknown type", func() error { return g.dc.Send([]byte{wire.FragFinal, 0x7f, 1, 2}) }, wire.ErrUnknownType},
		{"truncated", func() error { return g.dc.Send([]byte{wire.FragFinal, byte(wire.TypeMouseMove), 0, 0}) }, wire.ErrMalformed},
		{"bad mouse button", func() error { return g.dc.Send([]byte{wire.FragFinal, byte(wire.TypeMouseButton), 9, 1}) }, wire.ErrMalformed},
		{"text message", func() error { return g.dc.SendText("hello") }, wire.ErrMalformed},
		{"empty message", func() error { return g.dc.Send([]byte{}) }, wire.ErrMalformed},
		{"oversized", func() error { return g.Send(&wire.ScreenFrame{Data: make([]byte, 3*wire.MaxFragment)}) }, wire.ErrTooLarge},
		{"oversized single", func() error { return g.Send(&wire.Text{Text: string(make([]byte, 1200))}) }, wire.ErrTooLarge},
		{"unfinished then bad flag", func() error {
			if err := g.dc.Send([]byte{wire.FragMore, byte(wire.TypeMouseMove), 0}); err != nil {
				return err
			}
			return g.dc.Send([]byte{0xee})
		}, wire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			if err := g.Send(ok); err != nil {
				t.Fatal(err)
			}
			m, err := h.Recv(ctx)
			var pe *ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) || pe.Channel != wire.ChannelInput {
				t.Fatalf("Recv = %#v, %v; want a *ProtocolError with %v", m, err, tc.want)
			}
			if m, err = h.Recv(ctx); err != nil || !reflect.DeepEqual(m, ok) {
				t.Fatalf("next message: %#v, %v", m, err)
			}
		})
	}
	if _, errs := p.g2h.stats(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// A sender pacing with WaitBuffered never has more than the mark plus one
// message queued, however slow the consumer.
func TestWaitBufferedBackpressure(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	p := newPair(t, ctx, loopbackConfig(), loopbackConfig(), 0)
	p.waitConnected(t, ctx)
	g, h := p.channels(t, ctx, wire.ChannelScreen)

	const (
		mark  = 256 << 10
		size  = 200 << 10
		count = 48 // ~9.6 MB: far more than the receiver buffers
	)
	frame := &wire.ScreenFrame{Data: bytes.Repeat([]byte{0x5a}, size)}
	enc := len(wire.Marshal(frame))
	onWire := uint64(enc + (enc+wire.MaxFragment-2)/(wire.MaxFragment-1)) // + flag bytes

	// The slow consumer reads a message only while its receive queue is full
	// (pion's read loop is blocked on it, so SCTP holds back the sender), or
	// once the sender is done. A ticker paces its looks at the queue.
	var senderDone atomic.Bool
	consumed := make(chan error, 1)
	fullReads := 0
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := range count {
			for len(h.queue) < cap(h.queue) && !senderDone.Load() {
				select {
				case <-tick.C:
				case <-ctx.Done():
					consumed <- ctx.Err()
					return
				}
			}
			if len(h.queue) == cap(h.queue) {
				fullReads++
			}
			m, err := h.Recv(ctx)
			if err != nil {
				consumed <- err
				return
			}
			if f, ok := m.(*wire.ScreenFrame); !ok || f.Seq != uint32(i) || len(f.Data) != size {
				consumed <- errors.New("wrong frame")
				return
			}
		}
		consumed <- nil
	}()

	var maxBuffered uint64
	waits := 0
	for i := range count {
		if g.BufferedAmount() >= mark {
			waits++
		}
		if err := g.WaitBuffered(ctx, mark); err != nil {
			t.Fatal(err)
		}
		if b := g.BufferedAmount(); b >= mark {
			t.Fatalf("WaitBuffered returned at %d buffered", b)
		}
		frame.Seq = uint32(i)
		if err := g.Send(frame); err != nil {
			t.Fatal(err)
		}
		maxBuffered = max(maxBuffered, g.BufferedAmount())
	}
	senderDone.Store(true)
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	if waits == 0 || fullReads == 0 {
		t.Fatalf("no backpressure: the sender waited %d times, the consumer found its queue full %d times", waits, fullReads)
	}
	if maxBuffered >= mark+onWire {
		t.Fatalf("buffered up to %d bytes, over mark %d + one message %d", maxBuffered, mark, onWire)
	}
	t.Logf("sender held back before %d of %d sends, consumer queue full at %d reads; max buffered %d (mark %d + message %d)",
		waits, count, fullReads, maxBuffered, mark, onWire)

	// Nobody reads any more: fill the receiver's buffers until the sender
	// holds more than the mark for good. Then only the context or the
	// channel's end can release WaitBuffered.
	for i := 0; g.BufferedAmount() < 2*mark; i++ {
		if i > 200 {
			t.Fatal("the send buffer does not fill without a reader")
		}
		if err := g.Send(frame); err != nil {
			t.Fatal(err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.WaitBuffered(cancelled, mark); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitBuffered with a cancelled context = %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- g.WaitBuffered(ctx, mark) }()
	p.guest.Close()
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitBuffered across Close = %v, want ErrClosed", err)
	}
	if err := g.WaitBuffered(ctx, 0); err == nil {
		t.Fatal("WaitBuffered(0) accepted")
	}
}

func TestRecvContextKeepsPartialMessage(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	p := newPair(t, ctx, loopbackConfig(), loopbackConfig(), 0)
	p.waitConnected(t, ctx)
	g, h := p.channels(t, ctx, wire.ChannelControl)

	// First half of a message, then a Recv that times out, then the rest.
	msg := wire.Marshal(&wire.Bye{Reason: "split"})
	if err := g.dc.Send(append([]byte{wire.FragMore}, msg[:3]...)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if m, err := h.Recv(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv of half a message = %#v, %v", m, err)
	}
	if err := g.dc.Send(append([]byte{wire.FragFinal}, msg[3:]...)); err != nil {
		t.Fatal(err)
	}
	if m, err := h.Recv(ctx); err != nil || !reflect.DeepEqual(m, &wire.Bye{Reason: "split"}) {
		t.Fatalf("Recv = %#v, %v", m, err)
	}
}

func TestHostRefusesUnknownChannels(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	p := &pair{}
	p.g2h = newLink(t, 0, func() *Peer { return p.host })
	p.h2g = newLink(t, 0, func() *Peer { return p.guest })
	var err error
	if p.host, err = NewPeer(loopbackConfig(), wire.RoleHost, p.h2g.send); err != nil {
		t.Fatal(err)
	}
	if p.guest, err = NewPeer(loopbackConfig(), wire.RoleGuest, p.g2h.send); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.guest.Close(); p.host.Close(); p.g2h.close(); p.h2g.close() })

	bogus, err := p.guest.pc.CreateDataChannel("bogus", nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	bogus.OnClose(func() { close(closed) })
	if err := p.guest.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitConnected(t, ctx)
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the host did not close the unknown channel")
	}
	// The real ones still work.
	g, h := p.channels(t, ctx, wire.ChannelControl)
	if err := h.Send(&wire.Ping{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if m, err := g.Recv(ctx); err != nil || m.(*wire.Ping).ID != 3 {
		t.Fatalf("Recv = %#v, %v", m, err)
	}
	if _, err := p.guest.Channel(ctx, "bogus"); err == nil {
		t.Fatal("Channel(bogus) succeeded")
	}
}

func TestHandleSignalErrors(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	var mu sync.Mutex
	var sent []*wire.Signal
	record := func(s *wire.Signal) error { mu.Lock(); sent = append(sent, s); mu.Unlock(); return nil }
	host, err := NewPeer(loopbackConfig(), wire.RoleHost, record)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	guest, err := NewPeer(loopbackConfig(), wire.RoleGuest, func(*wire.Signal) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()

	if err := host.HandleSignal(&wire.Signal{Type: wire.SigAnswer, SDP: "v=0"}); !errors.Is(err, ErrUnexpectedSignal) {
		t.Errorf("host answer: %v", err)
	}
	if err := guest.HandleSignal(&wire.Signal{Type: wire.SigOffer, SDP: "v=0"}); !errors.Is(err, ErrUnexpectedSignal) {
		t.Errorf("guest offer: %v", err)
	}
	if err := guest.HandleSignal(&wire.Signal{Type: wire.SigAnswer, SDP: "v=0"}); !errors.Is(err, ErrUnexpectedSignal) {
		t.Errorf("answer before Start: %v", err)
	}
	if err := host.HandleSignal(&wire.Signal{Type: wire.SigInventory}); !errors.Is(err, ErrUnexpectedSignal) {
		t.Errorf("inventory: %v", err)
	}
	if err := host.HandleSignal(nil); !errors.Is(err, ErrUnexpectedSignal) {
		t.Errorf("nil: %v", err)
	}
	if err := host.HandleSignal(&wire.Signal{Type: wire.SigCandidate, Candidate: json.RawMessage(`"x"`)}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("bad candidate: %v", err)
	}
	if err := host.HandleSignal(&wire.Signal{Type: wire.SigOffer, SDP: "garbage"}); err == nil {
		t.Error("garbage offer accepted")
	}
	// Early candidates are held, but not without bound.
	c, _ := json.Marshal(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
	var last error
	for range maxEarlyCandidates + 1 {
		last = guest.HandleSignal(&wire.Signal{Type: wire.SigCandidate, Candidate: c})
	}
	if last == nil {
		t.Error("unbounded early candidates")
	}
	if err := guest.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := guest.Start(ctx); err == nil {
		t.Error("second Start accepted")
	}
	if _, err := guest.Channel(ctx, "nope"); err == nil {
		t.Error("Channel(nope) accepted")
	}
	if _, _, err := guest.SelectedPair(); !errors.Is(err, ErrNotConnected) {
		t.Errorf("SelectedPair before connecting: %v", err)
	}
	if n := guest.BytesReceived(); n != 0 {
		t.Errorf("BytesReceived before connecting: %d", n)
	}

	// A bye ends the peer with the remote's reason, and no bye goes back.
	mu.Lock()
	sent = nil
	mu.Unlock()
	if err := host.HandleSignal(&wire.Signal{Type: wire.SigBye, Code: "closed", Message: "technician left"}); err != nil {
		t.Fatal(err)
	}
	<-host.Done()
	if err := host.Err(); !errors.Is(err, ErrRemoteClosed) || !bytes.Contains([]byte(err.Error()), []byte("technician left")) {
		t.Errorf("Err after bye = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sent {
		if s.Type == wire.SigBye {
			t.Error("answered a bye with a bye")
		}
	}
	if err := host.HandleSignal(&wire.Signal{Type: wire.SigOffer}); !errors.Is(err, ErrRemoteClosed) {
		t.Errorf("signal after done: %v", err)
	}
	if _, err := host.Channel(ctx, wire.ChannelControl); !errors.Is(err, ErrRemoteClosed) {
		t.Errorf("Channel after done: %v", err)
	}
}

func TestNewPeerErrors(t *testing.T) {
	send := func(*wire.Signal) error { return nil }
	if _, err := NewPeer(loopbackConfig(), 0, send); err == nil {
		t.Error("role 0 accepted")
	}
	if _, err := NewPeer(loopbackConfig(), wire.RoleHost, nil); err == nil {
		t.Error("nil sender accepted")
	}
	cfg := loopbackConfig()
	cfg.ICEServers = []wire.ICEServer{{URLs: []string{"http://not-ice"}}}
	if _, err := NewPeer(cfg, wire.RoleGuest, send); err == nil {
		t.Error("bad ICE URL accepted")
	}
}

// Close sends a bye so the remote learns at once, even before connecting.
func TestCloseSendsBye(t *testing.T) {
	var got []*wire.Signal
	p, err := NewPeer(loopbackConfig(), wire.RoleGuest, func(s *wire.Signal) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != wire.SigBye || got[0].Code != ByeClosed {
		t.Fatalf("sent %+v", got)
	}
	if p.Err() != nil {
		t.Fatal(p.Err())
	}
	if err := p.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}
