package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// recordingChat is the local user's screen in these tests: it keeps what
// the host showed.
type recordingChat struct{ shown chan ChatMessage }

func (r *recordingChat) Show(m ChatMessage) { r.shown <- m }

// fakePower records power actions instead of carrying them out: the real
// ones would lock, log out or reboot the machine running the tests. The
// Linux command construction is tested in power_linux_test.go.
type fakePower struct {
	mu   sync.Mutex
	done []PowerAction
	fail map[PowerAction]error
}

func (p *fakePower) Do(_ context.Context, a PowerAction) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail[a]; err != nil {
		return err
	}
	p.done = append(p.done, a)
	return nil
}

func (p *fakePower) actions() []PowerAction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PowerAction(nil), p.done...)
}

type featureHost struct {
	f      *fakeRelay
	h      *Host
	dev    string
	chat   *recordingChat
	power  *fakePower
	events *eventLog
}

func startFeatureHost(t *testing.T, opt func(*Options)) *featureHost {
	t.Helper()
	fh := &featureHost{chat: &recordingChat{shown: make(chan ChatMessage, 16)}, events: &eventLog{},
		power: &fakePower{fail: map[PowerAction]error{PowerCtrlAltDel: fmt.Errorf("not on this OS: %w", errors.ErrUnsupported)}}}
	fh.f, fh.h, fh.dev = startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.ChatUI = fh.chat
		o.Power = fh.power
		o.OnEvent = fh.events.add
		if opt != nil {
			opt(o)
		}
	})
	return fh
}

// session starts a session with these permissions and returns its channels.
func (fh *featureHost) session(t *testing.T, sid string, perms policy.Set) map[string]*transport.Channel {
	t.Helper()
	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: fh.f.grant(t, sid, fh.dev, perms.Strings(), time.Now().Add(time.Minute), fh.f.key)})
	_, chans := guestPeer(t, fh.f, sid)
	return chans
}

func without(p policy.Permission) policy.Set {
	var ps []policy.Permission
	for _, q := range policy.AllPermissions {
		if q != p {
			ps = append(ps, q)
		}
	}
	s, _ := policy.NewSet(ps...)
	return s
}

// ask sends m and returns the host's next reply on the channel, past the
// hello and session info that open the control channel.
func ask(t *testing.T, ch *transport.Channel, m wire.Message) wire.Message {
	t.Helper()
	send(t, ch, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		r, err := ch.Recv(ctx)
		if err != nil {
			t.Fatalf("reply to 0x%02x: %v", uint8(m.Type()), err)
		}
		switch r.(type) {
		case *wire.Hello, *wire.SessionInfo:
			continue
		}
		return r
	}
}

func send(t *testing.T, ch *transport.Channel, m wire.Message) {
	t.Helper()
	if err := ch.Send(m); err != nil {
		t.Fatal(err)
	}
}

func TestChatBothWays(t *testing.T) {
	fh := startFeatureHost(t, nil)
	ctl := fh.session(t, "chat", policy.FullSet())[wire.ChannelControl]
	send(t, ctl, &wire.Chat{Seq: 1, Time: 1700000000000, Text: "Hello, I am going to\nrestart the print spooler"})
	var m ChatMessage
	select {
	case m = <-fh.chat.shown:
	case <-time.After(20 * time.Second):
		t.Fatal("the chat message was not shown")
	}
	if m.SessionID != "chat" || m.Technician != "Tess Tech <tech@example.com>" || m.Seq != 1 ||
		m.Text != "Hello, I am going to\nrestart the print spooler" || m.Sent.UnixMilli() != 1700000000000 {
		t.Fatalf("shown %+v", m)
	}
	if fh.events.count("chat_received") != 1 {
		t.Fatal("chat not audited")
	}

	// The local user answers, through the message and through the host.
	if err := m.Reply("OK, go ahead"); err != nil {
		t.Fatal(err)
	}
	if err := fh.h.SendChat("chat", "Thanks ✓"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"OK, go ahead", "Thanks ✓"} {
		c := recvType[*wire.Chat](t, ctl)
		if c.Text != want || c.Seq != uint32(i+1) || c.Time == 0 {
			t.Fatalf("guest got %+v, want %q seq %d", c, want, i+1)
		}
	}
	// The host checks the local user's text as the guest's is checked.
	for _, bad := range []string{"", "a\x1b[2Jb", "x\rnope", strings.Repeat("a", wire.MaxChat+1), "\xff"} {
		if err := fh.h.SendChat("chat", bad); !errors.Is(err, wire.ErrChatText) {
			t.Errorf("SendChat(%q) = %v", bad, err)
		}
	}
	if err := fh.h.SendChat("nope", "hi"); !errors.Is(err, ErrNoSession) {
		t.Errorf("SendChat to no session: %v", err)
	}
}

func TestExecOutputAndExitCode(t *testing.T) {
	fh := startFeatureHost(t, nil)
	ex := fh.session(t, "exec", policy.FullSet())[wire.ChannelExec]
	dir := t.TempDir()
	send(t, ex, &wire.ExecStart{ID: 7, Dir: dir, Argv: []string{"sh", "-c", "echo out; pwd; echo err >&2; exit 3"}})
	st := recvType[*wire.ExecStarted](t, ex)
	if st.ID != 7 || st.PID == 0 {
		t.Fatalf("started %+v", st)
	}
	var out, errb bytes.Buffer
	exit := collect(t, ex, 7, &out, &errb)
	if exit.Status != wire.ExecExited || exit.Code != 3 {
		t.Fatalf("exit %+v", exit)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if out.String() != "out\n"+real+"\n" || errb.String() != "err\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
	if fh.events.count("command_started") != 1 || !fh.events.reaches("command_ended", 1) {
		t.Fatal("command not audited")
	}
}

// collect reads command id's output until its ExecExit.
func collect(t *testing.T, ch *transport.Channel, id uint32, stdout, stderr *bytes.Buffer) *wire.ExecExit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		m, err := ch.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for command %d: %v", id, err)
		}
		switch m := m.(type) {
		case *wire.ExecOutput:
			if m.ID != id {
				continue
			}
			if m.Stream == wire.StreamStdout {
				stdout.Write(m.Data)
			} else {
				stderr.Write(m.Data)
			}
		case *wire.ExecExit:
			if m.ID == id {
				return m
			}
		case *wire.Error:
			t.Fatalf("error while command %d runs: %+v", id, m)
		}
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execChannelOf returns the host's side of a session's exec channel while
// command id runs.
func (fh *featureHost) execChannelOf(sid string, id uint32) *transport.Channel {
	fh.h.mu.Lock()
	s := fh.h.sessions[sid]
	fh.h.mu.Unlock()
	if s == nil || s.execSrv.Load() == nil {
		return nil
	}
	x := s.execSrv.Load()
	x.mu.Lock()
	defer x.mu.Unlock()
	if r := x.runs[id]; r != nil {
		return r.ch
	}
	return nil
}

// Output is paced on the channel's buffer: while the guest does not read,
// the host holds at most about execHighWater and the command blocks; once
// the guest reads, every byte arrives in order.
func TestExecStreamingBackpressure(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	fh := startFeatureHost(t, nil)
	ex := fh.session(t, "stream", policy.FullSet())[wire.ChannelExec]
	pidFile := filepath.Join(t.TempDir(), "pid")
	const size = 5 << 20
	send(t, ex, &wire.ExecStart{ID: 1, Argv: []string{"sh", "-c", "echo $$ > " + pidFile + "; yes | head -c 5M"}})
	recvType[*wire.ExecStarted](t, ex)

	// Not reading: the buffered amount on the host rises, then stays put.
	var hostCh *transport.Channel
	var last uint64
	stable := 0
	for deadline := time.Now().Add(30 * time.Second); stable < 20; time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the host's buffer never settled")
		}
		if hostCh == nil {
			hostCh = fh.execChannelOf("stream", 1)
			continue
		}
		b := hostCh.BufferedAmount()
		if b > execHighWater+2*wire.MaxFragment {
			t.Fatalf("the host queued %d bytes, over its mark %d", b, execHighWater)
		}
		if b == last && b > 0 {
			stable++
		} else {
			stable = 0
		}
		last = b
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	shPID, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if !alive(shPID) {
		t.Fatalf("the command finished while nobody read its %d bytes of output: no backpressure", size)
	}
	t.Logf("blocked with %d bytes queued on the host", last)

	var out, errb bytes.Buffer
	exit := collect(t, ex, 1, &out, &errb)
	if exit.Status != wire.ExecExited || exit.Code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %+v, stderr %q", exit, errb.String())
	}
	if out.Len() != size || !bytes.Equal(out.Bytes(), bytes.Repeat([]byte("y\n"), size/2)) {
		t.Fatalf("got %d bytes of output, want %d of y\\n", out.Len(), size)
	}
}

func TestExecCancelKillsGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	fh := startFeatureHost(t, nil)
	ex := fh.session(t, "cancel", policy.FullSet())[wire.ChannelExec]
	send(t, ex, &wire.ExecStart{ID: 3, Argv: []string{"sh", "-c", "sleep 60 & echo $!; sleep 60"}})
	st := recvType[*wire.ExecStarted](t, ex)
	o := recvType[*wire.ExecOutput](t, ex)
	bg, err := strconv.Atoi(strings.TrimSpace(string(o.Data)))
	if err != nil || !alive(bg) || !alive(int(st.PID)) {
		t.Fatalf("background sleep %q (%v) or the shell %d not running", o.Data, err, st.PID)
	}
	send(t, ex, &wire.ExecCancel{ID: 3})
	exit := recvType[*wire.ExecExit](t, ex)
	if exit.ID != 3 || exit.Status != wire.ExecCancelled || !strings.Contains(exit.Message, "process group") {
		t.Fatalf("exit %+v", exit)
	}
	waitDead(t, int(st.PID))
	waitDead(t, bg) // the whole group, not only the shell

	// A cancel for a command that is gone is ignored; the channel goes on.
	send(t, ex, &wire.ExecCancel{ID: 3})
	send(t, ex, &wire.ExecStart{ID: 4, Argv: []string{"true"}})
	recvType[*wire.ExecStarted](t, ex)
	if exit := recvType[*wire.ExecExit](t, ex); exit.ID != 4 || exit.Status != wire.ExecExited || exit.Code != 0 {
		t.Fatalf("exit %+v", exit)
	}
}

func TestExecTimeoutAndLimits(t *testing.T) {
	fh := startFeatureHost(t, func(o *Options) { o.Exec.MaxConcurrent = 2 })
	chans := fh.session(t, "limits", policy.FullSet())
	ex := chans[wire.ChannelExec]

	send(t, ex, &wire.ExecStart{ID: 1, TimeoutMs: 300, Argv: []string{"sleep", "60"}})
	st := recvType[*wire.ExecStarted](t, ex)
	if exit := recvType[*wire.ExecExit](t, ex); exit.Status != wire.ExecTimedOut || !strings.Contains(exit.Message, "timed out") {
		t.Fatalf("exit %+v", exit)
	}
	waitDead(t, int(st.PID))

	// At most MaxConcurrent at once.
	send(t, ex, &wire.ExecStart{ID: 2, Argv: []string{"sleep", "60"}})
	recvType[*wire.ExecStarted](t, ex)
	send(t, ex, &wire.ExecStart{ID: 3, Argv: []string{"sleep", "60"}})
	recvType[*wire.ExecStarted](t, ex)
	wantError(t, ask(t, ex, &wire.ExecStart{ID: 4, Argv: []string{"true"}}), wire.ErrCodeBadRequest, wire.TypeExecStart, "at most 2")
	wantError(t, ask(t, ex, &wire.ExecStart{ID: 2, Argv: []string{"true"}}), wire.ErrCodeBadRequest, wire.TypeExecStart, "")
	send(t, ex, &wire.ExecCancel{ID: 2})
	if exit := recvType[*wire.ExecExit](t, ex); exit.ID != 2 || exit.Status != wire.ExecCancelled {
		t.Fatalf("exit %+v", exit)
	}

	marker := filepath.Join(t.TempDir(), "ran")
	touch := []string{"sh", "-c", "touch " + marker}
	bad := []struct {
		m    *wire.ExecStart
		code uint16
		why  string
	}{
		{&wire.ExecStart{ID: 10}, wire.ErrCodeBadRequest, "empty command"},
		{&wire.ExecStart{ID: 11, Argv: []string{""}}, wire.ErrCodeBadRequest, "empty command"},
		{&wire.ExecStart{ID: 12, Argv: []string{"sh", "-c", "touch " + marker + "\x00"}}, wire.ErrCodeBadRequest, "NUL"},
		{&wire.ExecStart{ID: 13, Argv: touch, Dir: "tmp"}, wire.ErrCodeBadRequest, "absolute"},
		{&wire.ExecStart{ID: 14, Argv: touch, Dir: "../etc"}, wire.ErrCodeBadRequest, "absolute"},
		{&wire.ExecStart{ID: 15, Argv: touch, Dir: "/no/such/dir"}, wire.ErrCodeNotFound, "does not exist"},
		{&wire.ExecStart{ID: 16, Argv: touch, Dir: "/tmp\x00"}, wire.ErrCodeBadRequest, "NUL"},
		{&wire.ExecStart{ID: 17, Argv: append(touch, strings.Repeat("a", 4000), strings.Repeat("b", 4000),
			strings.Repeat("c", 4000), strings.Repeat("d", 4000), strings.Repeat("e", 4000), strings.Repeat("f", 4000),
			strings.Repeat("g", 4000), strings.Repeat("h", 4000), strings.Repeat("i", 4000))}, wire.ErrCodeTooLarge, "up to"},
		{&wire.ExecStart{ID: 18, Argv: []string{"tandem-no-such-program"}}, wire.ErrCodeNotFound, "not found"},
	}
	for _, b := range bad {
		wantError(t, ask(t, ex, b.m), b.code, wire.TypeExecStart, b.why)
	}
	// Exec messages belong on the exec channel.
	wantError(t, ask(t, chans[wire.ChannelControl], &wire.ExecStart{ID: 19, Argv: touch}), wire.ErrCodeBadRequest, wire.TypeExecStart, "exec channel")
	wantError(t, ask(t, ex, &wire.ExecExit{ID: 20}), wire.ErrCodeBadRequest, wire.TypeExecExit, "does not send")
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command ran: %v", err)
	}
}

func TestPowerActions(t *testing.T) {
	fh := startFeatureHost(t, nil)
	ctl := fh.session(t, "power", policy.FullSet())[wire.ChannelControl]
	for i, a := range []uint8{wire.PowerLock, wire.PowerLogout, wire.PowerRestart, wire.PowerShutdown} {
		r := ask(t, ctl, &wire.PowerAction{ID: uint32(i), Action: a})
		if d, ok := r.(*wire.PowerDone); !ok || d.ID != uint32(i) || d.Action != a {
			t.Fatalf("%s: %#v", wire.PowerActionName(a), r)
		}
	}
	want := []PowerAction{PowerLock, PowerLogout, PowerRestart, PowerShutdown}
	if got := fh.power.actions(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("carried out %v, want %v", got, want)
	}
	if fh.events.count("power_action") != 4 {
		t.Fatal("power actions not audited")
	}
	// A platform without the action answers with a clear error.
	wantError(t, ask(t, ctl, &wire.PowerAction{ID: 9, Action: wire.PowerCtrlAltDel}), wire.ErrCodeUnsupported, wire.TypePowerAction, "could not Ctrl+Alt+Del")
	wantError(t, ask(t, ctl, &wire.PowerDone{ID: 9, Action: wire.PowerLock}), wire.ErrCodeBadRequest, wire.TypePowerDone, "does not send")
}

// A host started without Options.Power refuses every power action.
func TestPowerNotConfigured(t *testing.T) {
	f, _, dev := startHostWith(t, &recordingInjector{}, nil)
	f.push(&wire.Signal{Type: wire.SigGrant, Session: "np", Grant: f.grant(t, "np", dev, policy.FullSet().Strings(), time.Now().Add(time.Minute), f.key)})
	_, chans := guestPeer(t, f, "np")
	wantError(t, ask(t, chans[wire.ChannelControl], &wire.PowerAction{ID: 1, Action: wire.PowerRestart}),
		wire.ErrCodeUnsupported, wire.TypePowerAction, "not set up")
}

// For each permission, a grant without it: whatever the guest sends anyway
// is refused on the host with ErrCodeDenied and audited, and nothing is
// shown, run or done. The other two features still work in the session.
func TestFeaturesRefusedWithoutPermission(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	cases := []struct {
		perm policy.Permission
		msgs func(chans map[string]*transport.Channel) []struct {
			ch *transport.Channel
			m  wire.Message
		}
	}{
		{policy.Chat, func(c map[string]*transport.Channel) []struct {
			ch *transport.Channel
			m  wire.Message
		} {
			ctl := c[wire.ChannelControl]
			return []struct {
				ch *transport.Channel
				m  wire.Message
			}{{ctl, &wire.Chat{Seq: 1, Text: "hello"}}, {c[wire.ChannelInput], &wire.Chat{Seq: 2, Text: "again"}}}
		}},
		{policy.ExecuteCommand, func(c map[string]*transport.Channel) []struct {
			ch *transport.Channel
			m  wire.Message
		} {
			ex := c[wire.ChannelExec]
			return []struct {
				ch *transport.Channel
				m  wire.Message
			}{
				{ex, &wire.ExecStart{ID: 1, Argv: []string{"sh", "-c", "touch " + marker}}},
				{ex, &wire.ExecCancel{ID: 1}},
				{c[wire.ChannelControl], &wire.ExecStart{ID: 2, Argv: []string{"touch", marker}}},
				{ex, &wire.ExecOutput{ID: 1, Stream: wire.StreamStdout}},
			}
		}},
		{policy.PowerActions, func(c map[string]*transport.Channel) []struct {
			ch *transport.Channel
			m  wire.Message
		} {
			ctl := c[wire.ChannelControl]
			return []struct {
				ch *transport.Channel
				m  wire.Message
			}{{ctl, &wire.PowerAction{ID: 1, Action: wire.PowerRestart}}, {ctl, &wire.PowerAction{ID: 2, Action: wire.PowerLock}},
				{ctl, &wire.PowerDone{ID: 3, Action: wire.PowerShutdown}}}
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.perm), func(t *testing.T) {
			fh := startFeatureHost(t, nil)
			chans := fh.session(t, "no-"+string(tc.perm), without(tc.perm))
			msgs := tc.msgs(chans)
			for _, x := range msgs {
				wantError(t, ask(t, x.ch, x.m), wire.ErrCodeDenied, x.m.Type(), string(tc.perm))
			}
			if n := fh.events.count("refused"); n != len(msgs) {
				t.Fatalf("%d refusals audited, want %d", n, len(msgs))
			}
			select {
			case m := <-fh.chat.shown:
				t.Fatalf("shown without chat: %+v", m)
			default:
			}
			if got := fh.power.actions(); len(got) != 0 {
				t.Fatalf("power actions carried out: %v", got)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a command ran: %v", err)
			}
			if n := fh.events.count("command_started"); n != 0 {
				t.Fatalf("%d commands started", n)
			}
			// The local user cannot chat into a session without chat either.
			if err := fh.h.SendChat("no-"+string(tc.perm), "hi"); (tc.perm == policy.Chat) != errors.Is(err, ErrChatNotGranted) {
				t.Fatalf("SendChat: %v", err)
			}
			if tc.perm != policy.Chat {
				if c := recvType[*wire.Chat](t, chans[wire.ChannelControl]); c.Text != "hi" {
					t.Fatalf("chat %+v", c)
				}
			}
			// What is granted still works.
			if tc.perm != policy.PowerActions {
				if r := ask(t, chans[wire.ChannelControl], &wire.PowerAction{ID: 5, Action: wire.PowerLock}); r.Type() != wire.TypePowerDone {
					t.Fatalf("granted power action refused: %#v", r)
				}
			}
			if tc.perm != policy.ExecuteCommand {
				if r := ask(t, chans[wire.ChannelExec], &wire.ExecStart{ID: 5, Argv: []string{"true"}}); r.Type() != wire.TypeExecStarted {
					t.Fatalf("granted command refused: %#v", r)
				}
			}
		})
	}
}
