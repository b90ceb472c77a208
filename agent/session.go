package agent

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/input"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Pacing: the screen loop asks its transport.Pacer before each frame and
// captures only once the link has room: at most about one frame in the
// link (a second only once the first has left the bottleneck by the
// estimated bandwidth, or its acknowledgement is overdue), so changes made
// meanwhile merge into the next frame's damage (the encoder diffs against
// what the guest has) and the guest gets the newest screen, never a
// backlog. The pacer learns the bandwidth from the guest's frame
// acknowledgements and the RTT from pings on control (every pingEvery),
// and from them picks the lossy quality and the frame interval.
//
// Polling is adaptive: 60 fps while the screen changes or input has just
// arrived (input also wakes the loop at once), 10 fps once it has been still
// for a second, so an idle session costs little CPU and a keystroke's echo
// is captured within a frame.
//
// Where the capturer hears of changes (X11 DAMAGE) the loop sleeps until
// the screen changes instead of polling, grabs only the damaged rectangles,
// and polls once every safetyPoll.
const (
	highWater    = 512 << 10
	fastInterval = time.Second / 60
	idleInterval = time.Second / 10
	stillAfter   = time.Second
	safetyPoll   = 2 * time.Second
	pingEvery    = time.Second
)

// Session is one technician's session on this machine, bounded by its grant.
type Session struct {
	h     *Host
	g     *policy.Grant
	perms policy.Set
	send  transport.SendSignal
	log   *slog.Logger

	sigs chan *wire.Signal
	// confirmed carries the relay's emailed confirm-access answer (first one).
	confirmed chan bool
	ended     chan struct{}
	endOnce   sync.Once
	endWhy    atomic.Value // string
	keyframe  atomic.Bool
	monitor   atomic.Int32 // selected monitor index, -1 = all

	inMu sync.Mutex
	inj  input.Injector
	kick chan struct{} // input applied: capture now

	files *fileServer // set before any channel is read
	exec  *execServer // likewise
	// execSrv is exec for readers outside the session's goroutines (tests).
	execSrv atomic.Pointer[execServer]

	control atomic.Pointer[transport.Channel] // for the local user's chat
	chatSeq atomic.Uint32
	powerMu sync.Mutex // one power action at a time
	desk    *localDesk // clipboard, input lock, blank screen
	guard   *appGuard  // the grant's application whitelist; nil = none
	// The host's state at the session's start, for the grant's exceptions.
	locked, noUser bool

	pace *transport.Pacer // the screen's pacing; fed by acks and pongs
	// For ScreenStats: frames sent, the most bytes of earlier frames the
	// screen channel still held when a frame was sent, the last quality.
	framesSent, maxBacklog, maxInFlight atomic.Uint64
	quality                             atomic.Int32

	helloOnce sync.Once
	hello     chan struct{} // closed when the guest's hello arrived
	guestCaps []string      // set before hello is closed
}

// helloWait bounds how long the screen waits for the guest's capabilities;
// a guest that never says hello gets the oldest screen format.
const helloWait = 3 * time.Second

func newSession(h *Host, g *policy.Grant, send transport.SendSignal) *Session {
	s := &Session{
		h: h, g: g, perms: g.Set(), send: send,
		log:       h.log.With("session", g.SessionID, "technician", g.User.Email),
		sigs:      make(chan *wire.Signal, 256),
		confirmed: make(chan bool, 1),
		ended:     make(chan struct{}),
		hello:     make(chan struct{}),
		kick:      make(chan struct{}, 1),
	}
	s.desk = &localDesk{s: s}
	s.monitor.Store(-1)
	q := codec.DefaultJPEGQuality
	s.pace = transport.NewPacer(transport.PacerConfig{HighWater: highWater, MinInterval: fastInterval,
		Qualities: []int{q, q * 2 / 3, q / 2}})
	return s
}

// signal hands a relay signal to the session without blocking the relay
// connection; a session that cannot keep up with its own signaling ends.
func (s *Session) signal(sig *wire.Signal) {
	select {
	case s.sigs <- sig:
	default:
		s.end("signaling backlog")
	}
}

func (s *Session) end(reason string) {
	s.endOnce.Do(func() {
		s.endWhy.Store(reason)
		close(s.ended)
	})
}

func (s *Session) reason() string {
	if r, ok := s.endWhy.Load().(string); ok {
		return r
	}
	return ""
}

func (s *Session) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	go func() {
		select {
		case <-s.ended:
			cancel()
		case <-ctx.Done():
		}
	}()

	// Nothing of the session runs before the local user allows it, when
	// the grant asks for that.
	if err := s.confirm(ctx); err != nil {
		s.end(err.Error())
		_ = s.send(&wire.Signal{Type: wire.SigBye, Code: "denied", Message: err.Error()})
		return err
	}

	cfg := s.h.o.Transport
	cfg.ICEServers = nil
	for _, is := range s.g.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, wire.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	peer, err := transport.NewPeer(cfg, wire.RoleHost, s.send)
	if err != nil {
		return err
	}
	defer peer.Close() // also says bye to the relay

	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-s.sigs:
				if sig.Type == wire.SigBye {
					s.end("technician disconnected")
					return
				}
				if err := peer.HandleSignal(sig); err != nil {
					s.log.Warn("bad signal", "type", sig.Type, "err", err)
				}
			}
		}
	}()

	// The grant authorizes starting the session until it expires.
	startCtx, startCancel := context.WithDeadline(ctx, time.Unix(s.g.ExpiresAt, 0).Add(policy.ClockSkew))
	defer startCancel()
	chans := map[string]*transport.Channel{}
	for _, label := range []string{wire.ChannelControl, wire.ChannelInput, wire.ChannelScreen} {
		ch, err := peer.Channel(startCtx, label)
		if err != nil {
			if s.reason() != "" {
				return errors.New(s.reason())
			}
			return fmt.Errorf("agent: session did not start before its grant expired: %w", err)
		}
		chans[label] = ch
	}
	control := chans[wire.ChannelControl]
	s.control.Store(control)
	s.log.Info("session started", "permissions", s.g.Permissions)
	// Detail: the granted permissions, for the local session indicator.
	s.h.event(Event{Kind: "session_started", SessionID: s.g.SessionID, Technician: technician(s.g),
		Detail: strings.Join(s.g.Permissions, " ")})
	hide := s.showIndicator()
	defer hide()

	var capt capture.Capturer
	if s.perms.Has(policy.ViewScreen) {
		if capt, err = s.h.o.Capture(); err != nil {
			_ = control.Send(&wire.Error{Code: wire.ErrCodeInternal, Message: "the host cannot capture its screen: " + err.Error()})
			return fmt.Errorf("agent: open capture: %w", err)
		}
		defer capt.Close()
	}
	if err := control.Send(&wire.Hello{Version: wire.Version, Role: wire.RoleHost,
		Caps: []string{wire.CapScreenTiles, wire.CapScreenTilesV2, wire.CapInput, wire.CapFragments, wire.CapFiles,
			wire.CapChat, wire.CapExec, wire.CapPower,
			wire.CapClipboard, wire.CapInputLock, wire.CapScreenBlank, wire.CapCursor, wire.CapPing}}); err != nil {
		return err
	}
	if err := control.Send(s.info(capt)); err != nil {
		return err
	}
	defer s.closeInput()
	// Unlock, unblank and withdraw clipboard text however the session ends
	// (before closeInput runs: the keys it releases reach applications).
	defer s.desk.close()
	s.desk.startClipboard(ctx, control)
	s.files = newFileServer(ctx, s)
	defer s.files.close()
	s.exec = newExecServer(ctx, s)
	s.execSrv.Store(s.exec)
	defer s.exec.close()

	errc := make(chan error, 8)
	for _, ch := range chans {
		go func(ch *transport.Channel) { errc <- s.recvLoop(ctx, ch) }(ch)
	}
	// The files and exec channels are optional: older guests do not open them.
	for _, label := range []string{wire.ChannelFiles, wire.ChannelExec} {
		go func() {
			if ch, err := peer.Channel(ctx, label); err == nil {
				errc <- s.recvLoop(ctx, ch)
			}
		}()
	}
	if capt != nil {
		go func() { errc <- s.screenLoop(ctx, chans[wire.ChannelScreen], capt) }()
		go s.pingLoop(ctx, control)
		go s.cursorLoop(ctx, control, capt)
	}
	select {
	case <-ctx.Done():
	case <-peer.Done():
		s.end("connection closed")
	case err := <-errc:
		if err != nil && ctx.Err() == nil {
			s.end(err.Error())
		}
	}
	// The guest hears why before the connection closes: closing at once
	// can drop the bye still queued behind screen frames.
	if control.Send(&wire.Bye{Reason: s.reason()}) == nil {
		wctx, wcancel := context.WithTimeout(context.Background(), byeFlush)
		_ = control.WaitBuffered(wctx, 1)
		wcancel()
	}
	return nil
}

// byeFlush bounds the wait for the farewell to leave.
const byeFlush = time.Second

func technician(g *policy.Grant) string {
	if g.User.Name != "" {
		return g.User.Name + " <" + g.User.Email + ">"
	}
	return g.User.Email
}

func (s *Session) info(capt capture.Capturer) *wire.SessionInfo {
	info := &wire.SessionInfo{Permissions: s.g.Permissions, Technician: technician(s.g), Active: int16(s.monitor.Load())}
	if capt != nil {
		mons, err := capt.Monitors()
		if err != nil {
			s.log.Warn("monitor list unavailable", "err", err)
		}
		for _, m := range mons {
			info.Monitors = append(info.Monitors, wire.MonitorInfo{Name: m.Name, X: int32(m.X), Y: int32(m.Y),
				Width: int32(m.Width), Height: int32(m.Height), Primary: m.Primary})
		}
	}
	return info
}

// region is what the screen loop captures: the selected monitor, or the
// whole virtual screen.
func (s *Session) region(capt capture.Capturer) image.Rectangle {
	idx := int(s.monitor.Load())
	if idx >= 0 {
		if mons, err := capt.Monitors(); err == nil && idx < len(mons) {
			m := mons[idx]
			return image.Rect(m.X, m.Y, m.X+m.Width, m.Y+m.Height)
		}
	}
	return capt.Bounds()
}

// screenOptions picks the newest screen format the guest announced: an
// older guest gets nothing its decoder would reject (version 1 tiles, no
// PREDICT flag, no ATLAS ops).
func screenOptions(guestCaps []string) (codec.EncoderOptions, uint8) {
	if !slices.Contains(guestCaps, wire.CapScreenTilesV2) {
		return codec.EncoderOptions{Version: 1}, wire.CodecTilesV1
	}
	return codec.EncoderOptions{Version: 2, JPEGQuality: codec.DefaultJPEGQuality,
		Predict: slices.Contains(guestCaps, wire.CapScreenPredict),
		Motion:  slices.Contains(guestCaps, wire.CapScreenMotion)}, wire.CodecTilesV2
}

func (s *Session) screenLoop(ctx context.Context, ch *transport.Channel, capt capture.Capturer) error {
	// Speak the newest screen format the guest announced.
	select {
	case <-s.hello:
	case <-time.After(helloWait):
	case <-ctx.Done():
		return nil
	}
	opts, codecID := screenOptions(s.guestCaps)
	enc := codec.NewEncoder(opts)
	defer enc.Close()
	var (
		frame   *capture.Frame
		seq     uint32
		err     error
		damaged []image.Rectangle // since the last grab; nil: grab everything
		last    image.Rectangle   // the region of frame
	)
	dmg, _ := capt.(capture.Damager)
	budget, _ := any(enc).(frameBudgeter)
	refining, _ := any(enc).(refiner)
	timer := time.NewTimer(0)
	defer timer.Stop()
	sleep := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	var lastActive, captured time.Time // last change or input; last grab
	first := true
	for {
		// The link first: nothing is captured while it still holds the
		// last frame, so changes meanwhile merge into the next frame's
		// damage (the encoder diffs against what the guest has) and the
		// guest gets the newest screen, never a backlog.
		pd, ok := s.waitLink(ctx, ch)
		if !ok {
			return nil
		}
		if !first && !sleep(time.Until(captured.Add(pd.Interval))) {
			return nil
		}
		switch {
		case first:
		case dmg != nil:
			// Sleep until the screen changes; sooner while the encoder
			// still has lossy tiles to refine once they hold still.
			wait := safetyPoll
			if refining != nil && refining.Refining() {
				wait = refineWait
			}
			ds, err := dmg.Damage(ctx, wait)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, errors.ErrUnsupported):
				dmg, damaged = nil, nil // no DAMAGE: poll
			case err != nil:
				return fmt.Errorf("agent: capture: %w", err)
			}
			if damaged != nil {
				damaged = append(damaged, ds...)
			}
		default:
			next := max(idleInterval, pd.Interval)
			if time.Since(lastActive) < stillAfter {
				next = pd.Interval
			}
			timer.Reset(max(0, time.Until(captured.Add(next))))
			select {
			case <-ctx.Done():
				return nil
			case <-s.kick:
				lastActive = time.Now()
				// Give the application a moment to draw before capturing.
				if !sleep(fastInterval / 4) {
					return nil
				}
			case <-timer.C:
			}
		}
		first = false
		// The decision again: the wait may have brought acknowledgements.
		pd = s.pace.Next(time.Now(), ch.BufferedAmount())
		if codecID == wire.CodecTilesV2 {
			enc.SetJPEGQuality(pd.Quality)
		}
		if budget != nil {
			budget.SetFrameBudget(pd.Budget)
		}
		if s.keyframe.Swap(false) {
			enc.ForceKeyframe()
		}
		r := s.region(capt)
		var allowed []image.Rectangle
		if s.guard != nil {
			if allowed, err = s.guard.refresh(); err != nil {
				return fmt.Errorf("%w: %w", ErrWhitelistUnenforceable, err)
			}
			damaged = nil // masks move with windows: grab everything
		}
		captured = time.Now()
		if damaged == nil || r != last {
			frame, err = capt.Grab(r, frame)
		} else {
			frame, _, err = capture.GrabDamaged(capt, r, damaged, frame)
		}
		if err != nil {
			return fmt.Errorf("agent: capture: %w", err)
		}
		last = r
		if dmg != nil {
			damaged = []image.Rectangle{} // grabbed: collect anew (nil grabs all)
		}
		// Masked before encoding: other applications' pixels never leave.
		if s.guard != nil {
			if err := s.guard.maskFrame(frame, r.Min, allowed); err != nil {
				return fmt.Errorf("%w: %w", ErrWhitelistUnenforceable, err)
			}
		}
		data, err := enc.Encode(frame)
		if err != nil {
			return fmt.Errorf("agent: encode: %w", err)
		}
		if data != nil {
			lastActive = captured
			seq++
			// This goroutine is the only writer of both.
			if b := ch.BufferedAmount(); b > s.maxBacklog.Load() {
				s.maxBacklog.Store(b)
			}
			if n := uint64(s.pace.InFlight()); n > s.maxInFlight.Load() {
				s.maxInFlight.Store(n)
			}
			if err := ch.Send(&wire.ScreenFrame{Seq: seq, CaptureNano: captured.UnixNano(),
				X: int32(r.Min.X), Y: int32(r.Min.Y), Codec: codecID, Data: data}); err != nil {
				return nil // channel closed: the session is ending
			}
			s.pace.OnSent(seq, len(data), time.Now())
			s.framesSent.Add(1)
			s.quality.Store(int32(pd.Quality))
		}
	}
}

// ScreenStats is what a session's screen stream did so far (for tests and
// benchmarks: the pacer must never let the screen channel hold a backlog).
type ScreenStats struct {
	Frames      uint64        // frames sent
	MaxBacklog  uint64        // the most bytes of earlier frames the screen channel held when a frame was sent
	MaxInFlight uint64        // the most earlier frames unacknowledged when a frame was sent
	Quality     int           // the lossy quality of the last frame
	Bandwidth   float64       // the pacer's estimate, bytes per second (0: none yet)
	RTT         time.Duration // the smallest round trip the pacer saw
}

// ScreenStats returns session id's screen figures; false when no such
// session runs.
func (h *Host) ScreenStats(id string) (ScreenStats, bool) {
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s == nil {
		return ScreenStats{}, false
	}
	return ScreenStats{Frames: s.framesSent.Load(), MaxBacklog: s.maxBacklog.Load(), MaxInFlight: s.maxInFlight.Load(), Quality: int(s.quality.Load()),
		Bandwidth: s.pace.Bandwidth(), RTT: s.pace.RTT()}, true
}

// waitLink waits until the pacer lets the next frame go; false when the
// session ends.
func (s *Session) waitLink(ctx context.Context, ch *transport.Channel) (transport.Decision, bool) {
	for {
		if err := ch.WaitBuffered(ctx, highWater); err != nil {
			return transport.Decision{}, false
		}
		pd := s.pace.Next(time.Now(), ch.BufferedAmount())
		if pd.Send {
			return pd, true
		}
		s.pace.WaitAck(ctx, pd.Wait)
		if ctx.Err() != nil {
			return transport.Decision{}, false
		}
	}
}

// frameBudgeter is a codec that can aim at a frame size: the pacer's
// budget, the bytes one frame may take at the link's estimated rate (0
// while there is no estimate).
type frameBudgeter interface{ SetFrameBudget(bytes int) }

// refiner is a codec that sends moving regions lossy and refines them to
// lossless once they hold still: while Refining, the screen loop looks
// again after refineWait even without damage.
type refiner interface{ Refining() bool }

// refineWait is how soon a still screen is looked at again while lossy
// regions wait for their refinement.
const refineWait = 50 * time.Millisecond

// pingLoop measures the RTT for the pacer: a Ping on control every
// pingEvery to a guest that announced CapPing, its Pong handled in handle.
func (s *Session) pingLoop(ctx context.Context, control *transport.Channel) {
	select {
	case <-s.hello:
	case <-ctx.Done():
		return
	}
	if !slices.Contains(s.guestCaps, wire.CapPing) {
		return // older guests: pacing goes by acks and buffered bytes
	}
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for id := uint32(1); ; id++ {
		if control.Send(&wire.Ping{ID: id, Nano: time.Now().UnixNano()}) != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cursorLoop sends the pointer beside the screen to a guest that takes it
// (CapCursor): a shape the guest has not seen, then the position, whenever
// either changed; checked at 60 Hz while the pointer moves, 10 Hz once it
// has been still for a second.
func (s *Session) cursorLoop(ctx context.Context, control *transport.Channel, capt capture.Capturer) {
	cr, ok := capt.(capture.CursorReader)
	select {
	case <-s.hello:
	case <-ctx.Done():
		return
	}
	if !ok || !slices.Contains(s.guestCaps, wire.CapCursor) {
		return
	}
	sent := map[uint32]bool{}
	var pos wire.CursorPos
	var moved time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := cr.Cursor()
		if err != nil {
			if !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, capture.ErrClosed) {
				s.log.Warn("cursor unavailable", "err", err)
			}
			return
		}
		if s.guard != nil && !s.guard.shows(image.Pt(c.X, c.Y)) {
			// Over a masked window: where the pointer is and what it looks
			// like there (a link hand, a resize arrow) are not the guest's
			// to see. It keeps the last allowed position.
			t.Reset(fastInterval)
			continue
		}
		if c.Shape != nil && !sent[c.Shape.Serial] {
			if sh, ok := wireCursor(c.Shape); ok {
				if len(sent) >= 64 {
					clear(sent) // shapes are resent after this many
				}
				sent[sh.ID] = true
				if control.Send(sh) != nil {
					return
				}
			}
		}
		if p := (wire.CursorPos{X: int32(c.X), Y: int32(c.Y), ID: c.Serial}); p != pos {
			pos, moved = p, time.Now()
			if control.Send(&p) != nil {
				return
			}
		}
		if time.Since(moved) < stillAfter {
			t.Reset(fastInterval)
		} else {
			t.Reset(idleInterval)
		}
	}
}

// recvLoop handles one channel's messages. Input is applied only with the
// keyboard_mouse permission; everything refused is answered on the same
// channel (so a guest's ping after a burst sees the refusals first) and logged.
func (s *Session) recvLoop(ctx context.Context, ch *transport.Channel) error {
	for {
		m, err := ch.Recv(ctx)
		if err != nil {
			var pe *transport.ProtocolError
			if errors.As(err, &pe) {
				code := uint16(wire.ErrCodeBadRequest)
				if errors.Is(err, wire.ErrUnknownType) {
					code = wire.ErrCodeUnsupported // a newer guest: not an attack
				}
				s.log.Warn("malformed message from guest", "channel", ch.Label(), "err", err)
				_ = ch.Send(&wire.Error{Code: code, Message: err.Error()})
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := s.handle(ctx, ch, m); err != nil {
			return err
		}
	}
}

func (s *Session) handle(ctx context.Context, ch *transport.Channel, m wire.Message) error {
	switch m := m.(type) {
	case *wire.Ping:
		return ch.Send((*wire.Pong)(m))
	case *wire.Hello:
		s.helloOnce.Do(func() {
			s.guestCaps = m.Caps
			close(s.hello)
		})
		return nil
	case *wire.Pong:
		s.pace.OnRTT(time.Duration(time.Now().UnixNano() - m.Nano)) // our own ping's clock
		return nil
	case *wire.FrameAck:
		s.pace.OnAck(m.Seq, time.Now())
		return nil
	case *wire.Bye:
		s.end("technician disconnected")
		return nil
	case *wire.KeyframeRequest:
		if !s.perms.Has(policy.ViewScreen) {
			return s.refuse(ch, m.Type(), policy.ViewScreen)
		}
		s.keyframe.Store(true)
		return nil
	case *wire.SelectMonitor:
		if !s.perms.Has(policy.ViewScreen) {
			return s.refuse(ch, m.Type(), policy.ViewScreen)
		}
		if m.Index < -1 || m.Index > 31 {
			return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: "no such monitor"})
		}
		s.monitor.Store(int32(m.Index))
		s.keyframe.Store(true)
		return nil
	case *wire.MouseMove, *wire.MouseButton, *wire.MouseWheel, *wire.Key, *wire.KeyTap, *wire.Text:
		if !s.perms.Has(policy.KeyboardMouse) {
			return s.refuse(ch, m.Type(), policy.KeyboardMouse)
		}
		if s.guard != nil {
			if ok, why := s.whitelisted(m); !ok {
				if _, move := m.(*wire.MouseMove); move {
					return nil // hovering outside is routine: dropped quietly
				}
				s.log.Info("input dropped by the application whitelist", "message", fmt.Sprintf("0x%02x", uint8(m.Type())), "why", why)
				s.h.event(Event{Kind: "refused", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: "whitelist: " + why})
				return ch.Send(&wire.Error{Code: wire.ErrCodeDenied, Ref: m.Type(), Message: "dropped by the host: " + why})
			}
		}
		err := s.inject(m)
		s.kicked()
		if err != nil {
			code := uint16(wire.ErrCodeInternal)
			if errors.Is(err, input.ErrUnknownKey) {
				code = wire.ErrCodeBadRequest
			}
			return ch.Send(&wire.Error{Code: code, Ref: m.Type(), Message: err.Error()})
		}
		return nil
	case *wire.Chat:
		if !s.perms.Has(policy.Chat) {
			return s.refuse(ch, m.Type(), policy.Chat)
		}
		s.showChat(m)
		return nil
	case *wire.PowerAction, *wire.PowerDone:
		if !s.perms.Has(policy.PowerActions) {
			return s.refuse(ch, m.Type(), policy.PowerActions)
		}
		pa, ok := m.(*wire.PowerAction)
		if !ok {
			return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: "a guest does not send power done"})
		}
		return s.power(ch, pa)
	default:
		if wire.IsExecMessage(m.Type()) {
			// Deny first: without the permission nothing runs.
			if !s.perms.Has(policy.ExecuteCommand) {
				return s.refuse(ch, m.Type(), policy.ExecuteCommand)
			}
			return s.exec.handle(ch, m)
		}
		if wire.IsFileMessage(m.Type()) {
			// Deny first: without the permission nothing touches the disk.
			if !s.perms.Has(policy.FileTransfer) {
				return s.refuse(ch, m.Type(), policy.FileTransfer)
			}
			if ch.Label() != wire.ChannelFiles {
				return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: "file messages go on the files channel"})
			}
			return s.files.handle(ch, m)
		}
		if wire.IsLocalMessage(m.Type()) {
			// Deny first: without the permission nothing on the desktop changes.
			p := localPermission(m.Type())
			if p == "" {
				return ch.Send(&wire.Error{Code: wire.ErrCodeBadRequest, Ref: m.Type(), Message: "a guest does not send this message"})
			}
			if !s.perms.Has(p) {
				return s.refuse(ch, m.Type(), p)
			}
			return s.desk.handle(ctx, ch, m)
		}
		return ch.Send(&wire.Error{Code: wire.ErrCodeUnsupported, Ref: m.Type(), Message: "not supported by this host"})
	}
}

// whitelisted reports whether input m would land in a whitelisted
// application: pointer input at its position (a move's target, else where
// the pointer is), keyboard input in the focused window. Errors deny.
func (s *Session) whitelisted(m wire.Message) (bool, string) {
	switch m := m.(type) {
	case *wire.MouseButton:
		// The release of a press that was let through passes wherever the
		// pointer is, so no button stays held (X delivers it to the window
		// that got the press); any other release is checked like a press.
		id := fmt.Sprintf("button %d", m.Button)
		if !m.Down && s.guard.release(id) {
			return true, ""
		}
		p, err := s.guard.w.Pointer()
		if err != nil {
			return false, "the pointer position is unknown"
		}
		ok, err := s.guard.pointerAllowed(p)
		if ok = ok && err == nil; ok && m.Down {
			s.guard.press(id)
		}
		return ok, "the pointer is outside the whitelisted applications"
	case *wire.Key:
		id := "key " + m.Code
		if !m.Down && s.guard.release(id) {
			return true, ""
		}
		ok, err := s.guard.keysAllowed()
		if ok = ok && err == nil; ok && m.Down {
			s.guard.press(id)
		}
		return ok, "the focused window is not a whitelisted application"
	case *wire.MouseMove:
		ok, err := s.guard.pointerAllowed(image.Pt(int(m.X), int(m.Y)))
		return ok && err == nil, "the pointer would leave the whitelisted applications"
	case *wire.MouseWheel:
		p, err := s.guard.w.Pointer()
		if err != nil {
			return false, "the pointer position is unknown"
		}
		ok, err := s.guard.pointerAllowed(p)
		return ok && err == nil, "the pointer is outside the whitelisted applications"
	case *wire.KeyTap, *wire.Text:
		ok, err := s.guard.keysAllowed()
		return ok && err == nil, "the focused window is not a whitelisted application"
	}
	return false, "this input is not supported with an application whitelist"
}

func (s *Session) refuse(ch *transport.Channel, t wire.MsgType, p policy.Permission) error {
	s.log.Warn("refused: permission not granted", "message", fmt.Sprintf("0x%02x", uint8(t)), "permission", p)
	s.h.event(Event{Kind: "refused", SessionID: s.g.SessionID, Technician: technician(s.g), Detail: string(p)})
	return ch.Send(&wire.Error{Code: wire.ErrCodeDenied, Ref: t,
		Message: fmt.Sprintf("refused by the host: this session is not granted %q", p)})
}

func (s *Session) inject(m wire.Message) error {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if s.inj == nil {
		inj, err := s.h.o.Input()
		if err != nil {
			return fmt.Errorf("the host cannot inject input: %w", err)
		}
		s.inj = inj
	}
	return s.desk.around(func() error { return s.apply(m) })
}

func (s *Session) apply(m wire.Message) error {
	switch m := m.(type) {
	case *wire.MouseMove:
		return s.inj.MoveMouse(int(m.X), int(m.Y))
	case *wire.MouseButton:
		return s.inj.MouseButton(input.Button(m.Button), m.Down)
	case *wire.MouseWheel:
		return s.inj.Wheel(int(m.DX), int(m.DY))
	case *wire.Key:
		return s.inj.Key(m.Code, m.Down)
	case *wire.KeyTap:
		return s.inj.Tap(m.Code, input.Modifiers(m.Mods))
	case *wire.Text:
		return s.inj.Type(m.Text)
	}
	return nil
}

// kicked tells the screen loop that input was applied.
func (s *Session) kicked() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// closeInput releases every key and button the session pressed: a dropped
// session must never leave Ctrl held down on the user's machine.
func (s *Session) closeInput() {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	if s.inj != nil {
		_ = s.inj.Close()
		s.inj = nil
	}
}
