package guest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// ConnectOptions tune a session.
type ConnectOptions struct {
	Action string // default "remote_control"
	// OnDemand starts the waiting OnDemand session with this key; Connect's
	// device must then be empty. The end user's consent is part of the
	// connection, so bound the wait with the context or Timeout.
	OnDemand  string
	Transport transport.Config // RelayOnly, Loopback...; ICE servers come from the relay
	// OnFrame is called after each decoded frame (from the receive goroutine).
	OnFrame func(FrameEvent)
	// OnConfirmation is told when the session waits for someone to allow
	// it by email (spec 4.4.10); Connect waits up to the context's deadline.
	OnConfirmation func(*wire.Confirmation)
	// ConfirmPoll is how often Connect asks whether it was allowed; default 2 s.
	ConfirmPoll time.Duration
	// Timeout, if set, bounds the request and the connection (not the wait
	// for a confirmation, which lasts until the request expires).
	Timeout time.Duration
	// OnClipboard is called with the host's clipboard text when someone on
	// the host copies text, and with answers to Clipboard (from the receive
	// goroutine).
	OnClipboard func(text string)
}

// FrameEvent describes one decoded screen update.
type FrameEvent struct {
	Seq         uint32
	CaptureNano int64 // host wall clock at capture
	DecodedAt   time.Time
	Keyframe    bool
	Rects       []image.Rectangle // changed areas, frame coordinates
	Bytes       int
}

// Session is a running remote-control session.
type Session struct {
	ID       string
	DeviceID string
	Perms    []string

	c      *Client
	o      ConnectOptions
	live   atomic.Bool // connected: losing the relay no longer ends it
	sig    *transport.SignalConn
	peer   *transport.Peer
	ctrl   *transport.Channel
	input  *transport.Channel
	screen *transport.Channel
	files  *Files
	chat   *Chat
	execs  *execs
	cursor cursorState // the host's pointer (cursor.go)

	powerMu    sync.Mutex // one power action at a time
	powerID    atomic.Uint32
	powerReply chan wire.Message // the request waiting for its answer (s.mu)

	mu       sync.Mutex
	cond     *sync.Cond
	info     *wire.SessionInfo
	dec      *codec.Decoder
	origin   image.Point
	keyframe bool   // a full screen has been decoded
	frames   uint64 // decoded frames
	clip     string // the host's clipboard text, as last received
	clipSeq  uint64 // ClipboardText messages received
	local    uint8  // the host's LocalState flags
	pongs    map[uint32]chan []*wire.Error
	ended    error

	// refusals per channel until that channel's next pong (s.mu)
	remote map[*transport.Channel][]*wire.Error

	watch watchers // viewers attached after Connect (view.go)

	pingID  atomic.Uint32
	done    chan struct{}
	endOnce sync.Once
	cancel  context.CancelFunc
}

// maxRemoteErrors bounds the refusals kept for a channel's next barrier (a
// stream of refused input without one must not grow without end).
const maxRemoteErrors = 64

// ErrEnded is returned by calls on a session that has ended.
var ErrEnded = errors.New("guest: session ended")

// Connect requests a session on device and establishes the WebRTC link.
// It returns once the data channels are open and the host has described the
// session.
func (c *Client) Connect(ctx context.Context, device string, o ConnectOptions) (*Session, error) {
	if o.Action == "" {
		o.Action = "remote_control"
	}
	bounded := func() (context.Context, context.CancelFunc) {
		if o.Timeout > 0 {
			return context.WithTimeout(ctx, o.Timeout)
		}
		return context.WithCancel(ctx)
	}
	rctx, rcancel := bounded()
	sr, err := c.requestSession(rctx, wire.SessionRequest{Device: device, Action: o.Action, OnDemand: o.OnDemand})
	rcancel()
	if err != nil {
		return nil, err
	}
	if cf := sr.Confirmation; cf != nil {
		if o.OnConfirmation != nil {
			o.OnConfirmation(cf)
		}
		every := o.ConfirmPoll
		if every <= 0 {
			every = 2 * time.Second
		}
		wctx, wcancel := context.WithDeadline(ctx, time.Unix(cf.ExpiresAt, 0).Add(time.Minute))
		err := c.WaitConfirmation(wctx, cf.ID, every)
		wcancel()
		if err != nil {
			return nil, err
		}
		rctx, rcancel := bounded()
		sr, err = c.requestSession(rctx, wire.SessionRequest{Device: device, Action: o.Action, OnDemand: o.OnDemand, Confirmation: cf.ID})
		rcancel()
		if err != nil {
			return nil, err
		}
	}
	ctx, cancelConnect := bounded()
	defer cancelConnect()
	hdr := http.Header{"Authorization": {"Bearer " + c.Token}}
	sig, err := transport.Dial(ctx, c.Relay+sr.SignalURL, hdr)
	if err != nil {
		return nil, fmt.Errorf("guest: open signaling: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Session{ID: sr.SessionID, DeviceID: sr.DeviceID, Perms: sr.Permissions, c: c, o: o, sig: sig,
		dec: codec.NewDecoder(codec.Limits{}), pongs: map[uint32]chan []*wire.Error{}, remote: map[*transport.Channel][]*wire.Error{},
		done: make(chan struct{}), cancel: cancel}
	s.cond = sync.NewCond(&s.mu)
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// Wait for the relay's ready before offering.
	for {
		m, err := sig.Recv(ctx)
		if err != nil {
			return nil, fmt.Errorf("guest: signaling: %w", err)
		}
		if m.Type == wire.SigReady {
			break
		}
		if m.Type == wire.SigError || m.Type == wire.SigBye {
			return nil, fmt.Errorf("guest: relay refused the session: %s (%s)", m.Message, m.Code)
		}
	}
	tc := o.Transport
	tc.ICEServers = sr.ICEServers
	if tc.Logger == nil {
		tc.Logger = c.Logger
	}
	send := func(m *wire.Signal) error {
		m.Session = s.ID
		sctx, scancel := context.WithTimeout(runCtx, 10*time.Second)
		defer scancel()
		return sig.Send(sctx, m)
	}
	if s.peer, err = transport.NewPeer(tc, wire.RoleGuest, send); err != nil {
		return nil, err
	}
	go s.signalLoop(runCtx)
	if err := s.peer.Start(ctx); err != nil {
		return nil, err
	}
	if s.ctrl, err = s.peer.Channel(ctx, wire.ChannelControl); err == nil {
		if s.input, err = s.peer.Channel(ctx, wire.ChannelInput); err == nil {
			if s.screen, err = s.peer.Channel(ctx, wire.ChannelScreen); err == nil {
				s.files = &Files{s: s}
				s.files.ch, err = s.peer.Channel(ctx, wire.ChannelFiles)
			}
		}
	}
	s.chat = &Chat{s: s, in: make(chan ChatMessage, chatQueue)}
	s.execs = &execs{s: s, cmds: map[uint32]*execCmd{}}
	if err == nil {
		s.execs.ch, err = s.peer.Channel(ctx, wire.ChannelExec)
	}
	if err != nil {
		if e := s.Err(); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("guest: could not reach the device: %w", err)
	}
	_ = s.ctrl.Send(&wire.Hello{Version: wire.Version, Role: wire.RoleGuest, Caps: []string{wire.CapScreenTiles, wire.CapScreenTilesV2,
		wire.CapInput, wire.CapFragments, wire.CapFiles, wire.CapChat, wire.CapExec, wire.CapPower, wire.CapClipboard, wire.CapCursor, wire.CapPing, wire.CapScreenPredict, wire.CapScreenMotion}})
	go s.recvLoop(runCtx, s.ctrl)
	go s.files.loop(runCtx)
	go s.execs.loop(runCtx)
	go s.recvLoop(runCtx, s.input)
	go s.recvLoop(runCtx, s.screen)
	go func() {
		select {
		case <-s.peer.Done():
			s.finish(fmt.Errorf("%w: connection closed", ErrEnded))
		case <-runCtx.Done():
		}
	}()
	// The host sends its hello and session info first on control.
	s.mu.Lock()
	for s.info == nil && s.ended == nil {
		s.waitCtx(ctx)
		if ctx.Err() != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("guest: host did not describe the session: %w", ctx.Err())
		}
	}
	err = s.ended
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ok = true
	s.live.Store(true)
	return s, nil
}

// waitCtx waits on the cond until signalled or ctx ends. Caller holds s.mu.
func (s *Session) waitCtx(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	s.cond.Wait()
	stop()
}

func (s *Session) signalLoop(ctx context.Context) {
	for {
		m, err := s.sig.Recv(ctx)
		if err != nil {
			if ctx.Err() == nil && s.live.Load() {
				// The relay (node) went away, the peer-to-peer link did not:
				// the session goes on until either side ends it.
				s.c.Logger.Warn("lost the relay; the session goes on peer to peer", "session", s.ID, "err", err)
			} else if ctx.Err() == nil {
				s.finish(fmt.Errorf("%w: lost the relay: %v", ErrEnded, err))
			}
			return
		}
		switch m.Type {
		case wire.SigBye:
			why := m.Message
			if why == "" {
				why = m.Code
			}
			s.finish(fmt.Errorf("%w: the remote side ended it (%s)", ErrEnded, why))
			return
		case wire.SigError:
			s.finish(fmt.Errorf("%w: %s (%s)", ErrEnded, m.Message, m.Code))
			return
		default:
			if err := s.peer.HandleSignal(m); err != nil {
				s.c.Logger.Warn("bad signal from relay", "type", m.Type, "err", err)
			}
		}
	}
}

func (s *Session) recvLoop(ctx context.Context, ch *transport.Channel) {
	for {
		m, err := ch.Recv(ctx)
		if err != nil {
			var pe *transport.ProtocolError
			if errors.As(err, &pe) {
				s.c.Logger.Warn("malformed message from host", "err", err)
				continue
			}
			return
		}
		switch m := m.(type) {
		case *wire.SessionInfo:
			s.mu.Lock()
			s.info = m
			s.cond.Broadcast()
			s.mu.Unlock()
		case *wire.ScreenFrame:
			s.onFrame(ch, m)
		case *wire.CursorShape:
			s.cursor.shape(m)
			s.notifyCursor()
		case *wire.CursorPos:
			s.cursor.move(m)
			s.notifyCursor()
		case *wire.ClipboardText:
			s.mu.Lock()
			s.clip = m.Text
			s.clipSeq++
			s.mu.Unlock()
			if s.o.OnClipboard != nil {
				s.o.OnClipboard(m.Text)
			}
			s.notifyClipboard(m.Text)
		case *wire.LocalState:
			s.mu.Lock()
			s.local = m.Flags
			s.mu.Unlock()
		case *wire.Pong:
			s.mu.Lock()
			if c := s.pongs[m.ID]; c != nil {
				delete(s.pongs, m.ID)
				c <- s.remote[ch]
				delete(s.remote, ch)
			}
			s.mu.Unlock()
		case *wire.Chat:
			s.chat.deliver(m)
		case *wire.PowerDone:
			s.onPower(m)
		case *wire.Error:
			if m.Ref == wire.TypePowerAction {
				s.onPower(m)
				continue
			}
			s.mu.Lock()
			// Per channel: a barrier answers for the messages sent on its
			// own channel, not for refusals of another one's.
			if len(s.remote[ch]) < maxRemoteErrors {
				s.remote[ch] = append(s.remote[ch], m)
			}
			s.mu.Unlock()
			s.notifyRefused(m)
		case *wire.Bye:
			s.finish(fmt.Errorf("%w: the host ended it (%s)", ErrEnded, m.Reason))
		case *wire.Ping:
			_ = ch.Send((*wire.Pong)(m))
		}
	}
}

func (s *Session) onFrame(ch *transport.Channel, f *wire.ScreenFrame) {
	if f.Codec != wire.CodecTilesV1 && f.Codec != wire.CodecTilesV2 { // the decoder reads both
		s.c.Logger.Warn("unsupported screen codec", "codec", f.Codec)
		return
	}
	s.mu.Lock()
	up, err := s.dec.Decode(f.Data)
	if err != nil {
		s.mu.Unlock()
		s.c.Logger.Warn("screen frame undecodable; asking for a keyframe", "seq", f.Seq, "err", err)
		_ = s.ctrl.Send(&wire.KeyframeRequest{})
		return
	}
	s.origin = image.Pt(int(f.X), int(f.Y))
	if up.Keyframe {
		s.keyframe = true
	}
	s.frames++
	s.cond.Broadcast()
	s.mu.Unlock()
	ev := FrameEvent{Seq: f.Seq, CaptureNano: f.CaptureNano, DecodedAt: time.Now(), Keyframe: up.Keyframe, Rects: up.Rects, Bytes: len(f.Data)}
	_ = ch.Send(&wire.FrameAck{Seq: f.Seq, CaptureNano: f.CaptureNano})
	if s.o.OnFrame != nil {
		s.o.OnFrame(ev)
	}
	s.notifyFrame(ev)
}

// Info describes the session as the host sees it: permissions, monitors.
func (s *Session) Info() *wire.SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Snapshot waits until a full screen has been decoded and returns a copy of
// the current screen and its origin in the host's root coordinates.
func (s *Session) Snapshot(ctx context.Context) (*image.RGBA, image.Point, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.keyframe && s.ended == nil && ctx.Err() == nil {
		s.waitCtx(ctx)
	}
	if !s.keyframe {
		if s.ended != nil {
			return nil, image.Point{}, s.ended
		}
		return nil, image.Point{}, fmt.Errorf("guest: no screen received: %w", ctx.Err())
	}
	src := s.dec.Image()
	img := image.NewRGBA(src.Bounds())
	draw.Draw(img, img.Bounds(), src, src.Bounds().Min, draw.Src)
	return img, s.origin, nil
}

// WaitFrames blocks until more than n frames have been decoded in total.
func (s *Session) WaitFrames(ctx context.Context, n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.frames <= n && s.ended == nil && ctx.Err() == nil {
		s.waitCtx(ctx)
	}
	if s.frames > n {
		return nil
	}
	if s.ended != nil {
		return s.ended
	}
	return ctx.Err()
}

// Frames is the number of frames decoded so far.
func (s *Session) Frames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// Send sends an input message (MouseMove, MouseButton, MouseWheel, Key,
// KeyTap, Text) to the host.
func (s *Session) Send(m wire.Message) error {
	if err := s.Err(); err != nil {
		return err
	}
	return s.input.Send(m)
}

// RequestKeyframe asks the host for a full screen.
func (s *Session) RequestKeyframe() error { return s.ctrl.Send(&wire.KeyframeRequest{}) }

// Sync is a barrier on the input channel: it returns once the host has
// processed everything sent before it, with the host's refusals of those
// messages as an error (nil when all were applied).
func (s *Session) Sync(ctx context.Context) error {
	errs, err := s.barrier(ctx, s.input)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// syncOn is Sync on one channel.
func (s *Session) syncOn(ctx context.Context, ch *transport.Channel) error {
	errs, err := s.barrier(ctx, ch)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// barrier returns once the host has processed everything sent on ch before
// it, with the refusals it sent meanwhile.
func (s *Session) barrier(ctx context.Context, ch *transport.Channel) ([]*wire.Error, error) {
	id := s.pingID.Add(1)
	c := make(chan []*wire.Error, 1)
	s.mu.Lock()
	s.pongs[id] = c
	s.mu.Unlock()
	if err := ch.Send(&wire.Ping{ID: id, Nano: time.Now().UnixNano()}); err != nil {
		return nil, err
	}
	select {
	case errs := <-c:
		return errs, nil
	case <-s.done:
		return nil, s.Err()
	case <-ctx.Done():
		return nil, fmt.Errorf("guest: host did not answer: %w", ctx.Err())
	}
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil while it runs).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *Session) finish(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.ended = err
		s.cond.Broadcast()
		s.mu.Unlock()
		close(s.done)
	})
}

// Close ends the session: bye to the host and the relay. Idempotent.
func (s *Session) Close() error {
	if s.ctrl != nil && s.Err() == nil {
		_ = s.ctrl.Send(&wire.Bye{Reason: "technician disconnected"})
	}
	if s.sig != nil && s.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.sig.Send(ctx, &wire.Signal{Type: wire.SigBye, Session: s.ID, Message: "technician disconnected"})
		cancel()
	}
	s.finish(fmt.Errorf("%w: closed", ErrEnded))
	s.cancel()
	if s.peer != nil {
		_ = s.peer.Close()
	}
	if s.sig != nil {
		_ = s.sig.Close()
	}
	return nil
}

// SelectedPair reports the ICE candidate types in use ("host", "srflx",
// "relay"): "relay" means the session goes through TURN.
func (s *Session) SelectedPair() (local, remote string, err error) { return s.peer.SelectedPair() }

// BytesReceived is what the session's transport has received in all.
func (s *Session) BytesReceived() uint64 { return s.peer.BytesReceived() }
