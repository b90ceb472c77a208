package console

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TANDEM_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func transportConfig() transport.Config { return transport.Config{Loopback: true} }

var (
	acme   = wire.Ref{ID: "acc-acme", Name: "Acme IT"}
	globex = wire.Ref{ID: "acc-globex", Name: "Globex"}
)

func newFake() *fakeRelay {
	return &fakeRelay{token: "tok-1", password: "Correct-Horse-9", code: "123456", recovery: "ABCDEFGHIJ", nextKey: "613220463",
		user: wire.User{ID: "u1", Email: "tech@example.com", Name: "Tech", Accounts: []wire.Ref{acme}}}
}

func TestGroupKey(t *testing.T) {
	for in, want := range map[string]string{"613220463": "613 220 463", "12345": "123 45", "123": "123", "": ""} {
		if got := groupKey(in); got != want {
			t.Errorf("groupKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusAndWaited(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
	for _, c := range []struct {
		online bool
		seen   int64
		want   string
	}{
		{true, ago(time.Hour), "online"},
		{false, 0, "never seen"},
		{false, ago(20 * time.Second), "last seen just now"},
		{false, ago(5 * time.Minute), "last seen 5 min ago"},
		{false, ago(3 * time.Hour), "last seen 3 h ago"},
		{false, ago(4 * 24 * time.Hour), "last seen 4 days ago"},
		{false, ago(90 * 24 * time.Hour), "last seen " + now.Add(-90*24*time.Hour).Format("2006-01-02")},
	} {
		if got := status(c.online, c.seen, now); got != c.want {
			t.Errorf("status(%v, %d) = %q, want %q", c.online, c.seen, got, c.want)
		}
	}
	if got := waited(ago(2*time.Minute+5*time.Second), now); got != "02:05" {
		t.Errorf("waited = %q, want 02:05", got)
	}
	if got := waited(0, now); got != "" {
		t.Errorf("waited before joining = %q, want empty", got)
	}
	if got := permissions([]string{"view_screen", "keyboard_mouse", "file_transfer"}); got != "view · control · files" {
		t.Errorf("permissions = %q", got)
	}
}

func TestLoginWithoutMFARemembersTheLogin(t *testing.T) {
	f := newFake()
	f.devices = []wire.Device{{ID: "d1", AccountID: acme.ID, Name: "ws-01", Hostname: "ws-01", OS: "linux", Online: true}}
	h := newHarness(t, f)
	if h.m.Phase() != PhaseLogin || h.u.win.Content() != h.u.loginView {
		t.Fatal("a first start does not show the login form")
	}
	h.login("tech@example.com", "Correct-Horse-9")
	if h.m.Phase() != PhaseMain || h.u.win.Content() != h.u.mainView {
		t.Fatalf("not logged in; error shown: %q", h.u.loginErr.Text)
	}
	if h.u.passEntry.Text != "" {
		t.Error("the password stays in its entry after login")
	}
	if rows := h.deviceRows(); len(rows) != 1 || !strings.HasPrefix(rows[0], "-|ws-01|online|linux") {
		t.Errorf("devices table = %q", rows)
	}
	if !strings.Contains(h.u.whoLabel.Text, "tech@example.com") || !strings.Contains(h.u.whoLabel.Text, "http://relay.test") {
		t.Errorf("header = %q", h.u.whoLabel.Text)
	}
	if h.u.accountSel.Visible() {
		t.Error("the account switch shows for a user of one account")
	}
	st, err := guest.LoadState(h.dir)
	if err != nil || st.Relay != "http://relay.test" || st.Email != "tech@example.com" || st.Token != "tok-1" {
		t.Fatalf("remembered state = %+v, %v", st, err)
	}

	// A new start with the remembered token goes straight in.
	m2 := newModel(testLogger(), h.dir, transportConfig(), f.api, time.Now)
	m2.Start(context.Background())
	if m2.Phase() != PhaseMain || m2.User().Email != "tech@example.com" {
		t.Fatalf("the remembered login was not used: %q", m2.LoginError())
	}

	// Log out: the token is forgotten, the relay and user are offered again.
	test.Tap(findButton(t, h.u.mainView, "Log out"))
	if h.m.Phase() != PhaseLogin || h.u.win.Content() != h.u.loginView {
		t.Fatal("log out did not go back to the login form")
	}
	if _, err := guest.LoadState(h.dir); !errors.Is(err, guest.ErrUnauthorized) {
		t.Errorf("after log out the token is still remembered (LoadState: %v)", err)
	}
	m3 := newModel(testLogger(), h.dir, transportConfig(), f.api, time.Now)
	m3.Start(context.Background())
	if relay, user := m3.Remembered(); relay != "http://relay.test" || user != "tech@example.com" || m3.Phase() != PhaseLogin {
		t.Errorf("after log out: phase %v, remembered %q %q", m3.Phase(), relay, user)
	}
}

func TestBareRelayNameMeansHTTPS(t *testing.T) {
	f := newFake()
	h := newHarness(t, f)
	h.u.relayEntry.SetText("relay.test")
	h.u.userEntry.SetText(f.user.Email)
	h.u.passEntry.SetText(f.password)
	test.Tap(h.u.loginBtn)
	if relay, _ := h.m.Remembered(); h.m.Phase() != PhaseMain || relay != "https://relay.test" {
		t.Fatalf("phase %v, relay %q, error %q", h.m.Phase(), relay, h.u.loginErr.Text)
	}
}

func TestRevokedRememberedTokenAsksToLogIn(t *testing.T) {
	f := newFake()
	dir := t.TempDir()
	if err := guest.SaveState(dir, &guest.State{Relay: "http://relay.test", Email: "tech@example.com", Token: "revoked"}); err != nil {
		t.Fatal(err)
	}
	m := newModel(testLogger(), dir, transportConfig(), f.api, time.Now)
	m.Start(context.Background())
	if m.Phase() != PhaseLogin || m.LoginError() != "" {
		t.Fatalf("phase %v, error %q: want the login form without an error", m.Phase(), m.LoginError())
	}
	if relay, user := m.Remembered(); relay != "http://relay.test" || user != "tech@example.com" {
		t.Errorf("remembered %q %q", relay, user)
	}
}

func TestLoginWithMFACodeAndRecoveryCode(t *testing.T) {
	for _, c := range []struct{ name, code string }{{"emailed code", " 123 456 "}, {"recovery code", "abcde-fghij"}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			f.mfa = true
			h := newHarness(t, f)
			h.login("tech@example.com", "Correct-Horse-9")
			if h.m.Phase() != PhaseMFA || h.u.win.Content() != h.u.codeView {
				t.Fatalf("no code step; login error %q", h.u.loginErr.Text)
			}
			if _, err := guest.LoadState(h.dir); err == nil {
				t.Fatal("a token is remembered before the code step")
			}
			test.Tap(h.u.codeBtn)
			if !h.u.codeErr.Visible() || !strings.Contains(h.u.codeErr.Text, "Enter the code") {
				t.Errorf("empty code: error %q", h.u.codeErr.Text)
			}
			test.Type(h.u.codeEntry, "654321")
			test.Tap(h.u.codeBtn)
			if h.m.Phase() != PhaseMFA || h.u.codeErr.Text != "Wrong code; 2 tries left." {
				t.Fatalf("wrong code: phase %v, error %q", h.m.Phase(), h.u.codeErr.Text)
			}
			h.u.codeEntry.SetText("")
			test.Type(h.u.codeEntry, c.code)
			h.u.codeEntry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
			if h.m.Phase() != PhaseMain {
				t.Fatalf("the %s was refused: %q", c.name, h.u.codeErr.Text)
			}
			if st, err := guest.LoadState(h.dir); err != nil || st.Token != "tok-1" {
				t.Errorf("remembered %+v, %v", st, err)
			}
		})
	}
}

func TestMFABackReturnsToPassword(t *testing.T) {
	f := newFake()
	f.mfa = true
	h := newHarness(t, f)
	h.login("tech@example.com", "Correct-Horse-9")
	test.Tap(findButton(t, h.u.codeView, "Back"))
	if h.m.Phase() != PhaseLogin || h.u.win.Content() != h.u.loginView {
		t.Fatal("Back did not return to the password step")
	}
}

func TestLoginErrors(t *testing.T) {
	// A port nothing listens on: the real client's error.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	for _, c := range []struct {
		name, relay, user, password string
		loginErr                    error
		real                        bool
		want                        string
	}{
		{name: "no relay", user: "tech@example.com", password: "x", want: "Enter the relay's address"},
		{name: "bad relay", relay: "ftp://relay.example.com", user: "tech@example.com", password: "x", real: true, want: "must look like https://"},
		{name: "plain http relay", relay: "http://relay.example.com", user: "tech@example.com", password: "x", real: true, want: "plain http to a relay that is not on this machine"},
		{name: "no user", relay: "http://relay.test", password: "x", want: "Enter your email address or DOMAIN\\user"},
		{name: "no password", relay: "http://relay.test", user: "tech@example.com", want: "Enter your password"},
		{name: "wrong password", relay: "http://relay.test", user: "tech@example.com", password: "nope",
			want: "Wrong email or password (after 5 failed attempts in a row a user is locked for 15 minutes)."},
		{name: "locked out", relay: "http://relay.test", user: "tech@example.com", password: "Correct-Horse-9",
			loginErr: &guest.APIError{Status: http.StatusTooManyRequests, Code: "throttled", Message: "too many failed logins; wait and try again", RetryAfter: 6*time.Minute + 10*time.Second},
			want:     "Too many failed logins: locked out, try again in 7 minutes."},
		{name: "unreachable", relay: dead, user: "tech@example.com", password: "x", real: true, want: "Cannot reach the relay"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			f.loginErr = c.loginErr
			h := newHarness(t, f)
			if c.real {
				h.m.newAPI = newClientAPI
			}
			h.u.relayEntry.SetText(c.relay)
			h.u.userEntry.SetText(c.user)
			h.u.passEntry.SetText(c.password)
			test.Tap(h.u.loginBtn)
			if h.m.Phase() != PhaseLogin {
				t.Fatal("logged in")
			}
			if !h.u.loginErr.Visible() || !strings.Contains(h.u.loginErr.Text, c.want) {
				t.Errorf("error shown %q (visible %v), want %q", h.u.loginErr.Text, h.u.loginErr.Visible(), c.want)
			}
			if h.u.userEntry.Text != c.user || h.u.relayEntry.Text != c.relay {
				t.Error("a failed login lost what was typed")
			}
			if _, err := os.Stat(h.dir + "/guest.json"); err == nil {
				t.Error("a failed login wrote the state")
			}
		})
	}
}

func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	for _, x := range test.LaidOutObjects(o) {
		if b, ok := x.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	t.Fatalf("no %q button", text)
	return nil
}

func loggedIn(t *testing.T, f *fakeRelay) *harness {
	t.Helper()
	h := newHarness(t, f)
	h.login(f.user.Email, f.password)
	if h.m.Phase() != PhaseMain {
		t.Fatalf("login failed: %q", h.u.loginErr.Text)
	}
	return h
}

func TestAccountSwitchFiltersDevicesAndSessions(t *testing.T) {
	f := newFake()
	f.user.Accounts = []wire.Ref{acme, globex}
	f.devices = []wire.Device{
		{ID: "d1", AccountID: acme.ID, Name: "acme-ws", Online: true},
		{ID: "d2", AccountID: globex.ID, Name: "globex-ws", Online: true},
	}
	f.sessions = []wire.OnDemandSession{
		{Key: "111222333", AccountID: acme.ID, State: wire.OnDemandCreated},
		{Key: "444555666", AccountID: globex.ID, State: wire.OnDemandCreated},
	}
	h := loggedIn(t, f)
	if !h.u.accountSel.Visible() || h.u.accountSel.Selected != "Acme IT" {
		t.Fatalf("account switch visible %v, selected %q", h.u.accountSel.Visible(), h.u.accountSel.Selected)
	}
	names := func() (out []string) {
		for _, d := range h.u.devs.rows {
			out = append(out, d.Name)
		}
		for _, s := range h.u.sess.rows {
			out = append(out, s.Key)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"acme-ws", "111222333"}) {
		t.Errorf("Acme shows %q", got)
	}
	h.u.accountSel.SetSelected("Globex")
	if got := names(); !slices.Equal(got, []string{"globex-ws", "444555666"}) {
		t.Errorf("Globex shows %q", got)
	}
	test.Tap(h.u.sess.create)
	if !slices.Equal(f.created, []string{globex.ID}) {
		t.Errorf("sessions created in %q, want Globex's", f.created)
	}
}

func TestDevicesFavoritesFilterSortAndSelection(t *testing.T) {
	f := newFake()
	now := time.Unix(1_800_000_000, 0)
	f.devices = []wire.Device{
		{ID: "d1", Name: "alpha", Hostname: "alpha", OS: "linux", Online: true, Groups: []string{"Servers"}, User: "root"},
		{ID: "d2", Name: "Accounting PC", Hostname: "acc-07", OS: "windows", LastSeen: now.Add(-3 * time.Hour).Unix(), Description: "2nd floor"},
		{ID: "d3", Name: "zulu", Hostname: "zulu", OS: "darwin", Favorite: true, LastSeen: now.Add(-10 * time.Minute).Unix()},
	}
	h := loggedIn(t, f)
	h.now = now
	h.u.render()
	want := []string{
		"*|zulu|last seen 10 min ago|darwin|||",
		"-|Accounting PC (acc-07)|last seen 3 h ago|windows|||2nd floor",
		"-|alpha|online|linux|Servers|root|",
	}
	if got := h.deviceRows(); !slices.Equal(got, want) {
		t.Fatalf("rows\n%q\nwant\n%q", got, want)
	}
	// The filter matches any column.
	for filter, ids := range map[string][]string{"floor": {"d2"}, "SERV": {"d1"}, "online": {"d1"}, "min ago": {"d3"}, "acc-07": {"d2"}, "nothing": nil} {
		h.u.devs.filter.SetText(filter)
		var got []string
		for _, d := range h.u.devs.rows {
			got = append(got, d.ID)
		}
		if !slices.Equal(got, ids) {
			t.Errorf("filter %q shows %q, want %q", filter, got, ids)
		}
	}
	h.u.devs.filter.SetText("")
	if h.u.devs.actions[0].Disabled() == false {
		t.Error("Remote control is enabled with no device selected")
	}

	// Select alpha, then star it from its star cell: it joins the favorites
	// (in name order), and stays selected.
	h.u.devs.table.Select(widget.TableCellID{Row: 2, Col: int(ColName)})
	if h.u.devs.selected != "d1" || h.u.devs.actions[0].Disabled() {
		t.Fatalf("selected %q", h.u.devs.selected)
	}
	h.u.devs.table.Select(widget.TableCellID{Row: 2, Col: int(ColFavorite)})
	if !slices.Equal(f.favCalls, []string{"+d1"}) {
		t.Fatalf("favorite calls %q", f.favCalls)
	}
	if got := h.deviceRows(); !strings.HasPrefix(got[0], "*|alpha|") || got[1] != "*|zulu|last seen 10 min ago|darwin|||" {
		t.Errorf("after starring alpha: %q", got)
	}
	// A refresh that lists the devices in another order keeps the selection.
	slices.Reverse(f.devices)
	h.u.refresh()
	if d, ok := h.u.devs.selectedDevice(); !ok || d.ID != "d1" || !strings.Contains(h.u.devs.selLabel.Text, "alpha") {
		t.Errorf("selection after refresh: %+v %v (%q)", d, ok, h.u.devs.selLabel.Text)
	}
	// Unstar zulu.
	h.u.devs.table.Select(widget.TableCellID{Row: 1, Col: int(ColFavorite)})
	if f.favCalls[1] != "-d3" {
		t.Errorf("favorite calls %q", f.favCalls)
	}
	// Sort by OS with a click on its header, then reversed; favorites stay
	// first.
	test.Tap(findButton(t, h.u.devs.table, "OS"))
	var got []string
	for _, d := range h.u.devs.rows {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, []string{"d1", "d3", "d2"}) {
		t.Errorf("by OS: %q", got)
	}
	test.Tap(findButton(t, h.u.devs.table, "OS ▲"))
	findButton(t, h.u.devs.table, "OS ▼")
	got = got[:0]
	for _, d := range h.u.devs.rows {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, []string{"d1", "d2", "d3"}) {
		t.Errorf("by OS, reversed: %q", got)
	}
}

func TestDeviceActionsConnectAndOpenTheSession(t *testing.T) {
	f := newFake()
	f.devices = []wire.Device{{ID: "d1", Name: "ws-01", Online: true}}
	h := loggedIn(t, f)
	h.u.devs.table.Select(widget.TableCellID{Row: 0, Col: int(ColName)})
	for i, want := range []struct{ action, panel string }{{"remote_control", ""}, {"file_transfer", "files"}, {"chat", "chat"}} {
		test.Tap(h.u.devs.actions[i])
		if len(f.connects) != i+1 || f.connects[i].Action != want.action || f.connectTo[i] != "d1" || !f.connects[i].Transport.Loopback {
			t.Fatalf("connect %d: %+v to %q", i, f.connects, f.connectTo)
		}
		if len(h.opened) != i+1 || h.opened[i].Panel != want.panel || h.opened[i].Title != "ws-01" {
			t.Fatalf("opened %+v", h.opened)
		}
	}
	if h.u.win.Canvas().Overlays().Top() != nil {
		t.Errorf("a dialog stays after connecting: %q", h.overlayTexts())
	}

	// Someone must allow it by email: the progress says so while waiting.
	f.confirm = &wire.Confirmation{ID: "c1", Status: "pending", Message: "an email went to the IT managers", ExpiresAt: time.Now().Add(10 * time.Minute).Unix()}
	var during string
	f.during = func() { during = h.overlayTexts() }
	test.Tap(h.u.devs.actions[0])
	if !strings.Contains(during, "Waiting until someone allows it by email") || !strings.Contains(during, "an email went to the IT managers") {
		t.Errorf("progress while waiting for the confirmation: %q", during)
	}

	// A refusal shows the relay's reason and opens nothing.
	f.confirm, f.during = nil, nil
	f.connectErr = &guest.APIError{Status: http.StatusForbidden, Code: "denied", Message: "access denied: outside the schedule of role Helpdesk"}
	opened := len(h.opened)
	test.Tap(h.u.devs.actions[0])
	if len(h.opened) != opened {
		t.Error("a refused session opened a window")
	}
	if got := h.overlayTexts(); !strings.Contains(got, "Access denied: outside the schedule of role Helpdesk.") {
		t.Errorf("refusal shows %q", got)
	}
	h.closeDialogs()
	f.connectErr = guest.ErrNotConfirmed
	test.Tap(h.u.devs.actions[0])
	if got := h.overlayTexts(); !strings.Contains(got, "The session was not allowed") {
		t.Errorf("denied confirmation shows %q", got)
	}
}

func TestSessionsQueue(t *testing.T) {
	f := newFake()
	h := loggedIn(t, f)
	joined := h.now.Add(-(2*time.Minute + 5*time.Second)).Unix()
	f.sessions = []wire.OnDemandSession{
		{Key: "111222333", AccountID: acme.ID, State: wire.OnDemandCreated, CreatedBy: "tech@example.com", CreatedAt: joined - 100},
		{Key: "613220463", AccountID: acme.ID, State: wire.OnDemandWaiting, CreatedBy: "boss@example.com", CreatedAt: joined - 50,
			JoinedAt: joined, Hostname: "jane-laptop", OS: "windows", User: "jane", Permissions: []string{"view_screen", "keyboard_mouse", "chat"}},
		{Key: "999888777", AccountID: acme.ID, State: wire.OnDemandExpired},
	}
	h.u.refresh()
	rowText := func() [][]string {
		var out [][]string
		for i := range h.u.sess.rows {
			o := h.u.sess.newRow()
			h.u.sess.updateRow(i, o)
			r := h.u.sess.widgets[o]
			out = append(out, []string{r.key.Text, r.state.Text, r.by.Text, r.waited.Text, r.machine.Text, r.perms.Text,
				map[bool]string{true: "start-off", false: "start-on"}[r.start.Disabled()]})
		}
		return out
	}
	want := [][]string{
		{"613 220 463", "waiting", "boss@example.com", "02:05", "jane-laptop · windows · jane", "view · control · chat", "start-on"},
		{"111 222 333", "created", "tech@example.com", "", "", "", "start-off"},
	}
	if got := rowText(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("queue\n%q\nwant\n%q", got, want)
	}
	if h.u.sess.empty.Visible() {
		t.Error("the empty-queue note shows with sessions listed")
	}
	// The waiting time ticks.
	h.now = h.now.Add(61 * time.Second)
	h.u.sess.render()
	if got := rowText()[0][3]; got != "03:06" {
		t.Errorf("after a minute the wait shows %q", got)
	}

	// Start: the end user's consent is awaited, then the session opens.
	var during string
	f.during = func() { during = h.overlayTexts() }
	o := h.u.sess.newRow()
	h.u.sess.updateRow(0, o)
	test.Tap(h.u.sess.widgets[o].start)
	if len(f.connects) != 1 || f.connects[0].OnDemand != "613220463" || f.connectTo[0] != "" {
		t.Fatalf("start connected %+v to %q", f.connects, f.connectTo)
	}
	if !strings.Contains(during, "Waiting for the user to allow…") {
		t.Errorf("while starting the dialog read %q", during)
	}
	if len(h.opened) != 1 || !strings.Contains(h.opened[0].Title, "613 220 463") {
		t.Errorf("opened %+v", h.opened)
	}
	// The user denies.
	f.during = nil
	f.connectErr = errors.New("guest: relay refused the session: the user denied the session (denied)")
	test.Tap(h.u.sess.widgets[o].start)
	if got := h.overlayTexts(); !strings.Contains(got, "Relay refused the session: the user denied the session (denied).") {
		t.Errorf("deny shows %q", got)
	}
	if len(h.opened) != 1 {
		t.Error("a denied session opened a window")
	}
	h.closeDialogs()

	// Reject asks first; No keeps it, Yes rejects it.
	test.Tap(h.u.sess.widgets[o].reject)
	if got := h.overlayTexts(); !strings.Contains(got, "Reject session 613 220 463?") || !strings.Contains(got, "jane-laptop exits") {
		t.Errorf("reject asks %q", got)
	}
	test.Tap(h.button("No"))
	if len(f.rejected) != 0 {
		t.Fatal("rejected without confirmation")
	}
	test.Tap(h.u.sess.widgets[o].reject)
	test.Tap(h.button("Yes"))
	if !slices.Equal(f.rejected, []string{"613220463"}) {
		t.Fatalf("rejected %q", f.rejected)
	}
	if got := rowText(); len(got) != 1 || got[0][0] != "111 222 333" {
		t.Errorf("after reject the queue is %q", got)
	}
}

func TestCreateSessionCopyAndEmail(t *testing.T) {
	f := newFake()
	h := loggedIn(t, f)
	test.Tap(h.u.sess.create)
	if !slices.Equal(f.created, []string{acme.ID}) {
		t.Fatalf("created %q", f.created)
	}
	kd := h.u.sess.keyDialog
	if kd == nil || kd.key.Text != "613 220 463" {
		t.Fatalf("key dialog %+v", kd)
	}
	if got := h.overlayTexts(); !strings.Contains(got, "http://relay.test/s/613220463") {
		t.Errorf("the dialog does not show the link: %q", got)
	}
	test.Tap(kd.copy)
	if got := h.u.app.Clipboard().Content(); got != "http://relay.test/s/613220463" {
		t.Errorf("clipboard holds %q", got)
	}
	// A bad address is refused before anything is sent.
	test.Type(kd.email, "jane at example")
	test.Tap(kd.send)
	if len(f.emailed) != 0 || !strings.Contains(kd.result.Text, "Not sent: Enter the end user's email address") {
		t.Errorf("bad address: sent %q, shows %q", f.emailed, kd.result.Text)
	}
	kd.email.SetText("")
	test.Type(kd.email, "jane@example.com")
	test.Tap(kd.send)
	if !slices.Equal(f.emailed, []string{"613220463 jane@example.com"}) || kd.result.Text != "Sent to jane@example.com." {
		t.Errorf("emailed %q, shows %q", f.emailed, kd.result.Text)
	}
	// The new key is listed.
	if len(h.u.sess.rows) != 1 || h.u.sess.rows[0].Key != "613220463" {
		t.Errorf("queue %+v", h.u.sess.rows)
	}
}

func TestExpiredTokenLogsOut(t *testing.T) {
	f := newFake()
	f.devices = []wire.Device{{ID: "d1", Name: "ws-01"}}
	h := loggedIn(t, f)
	f.token = "tok-2" // the relay revoked tok-1
	h.u.refresh()
	if h.m.Phase() != PhaseLogin || h.u.win.Content() != h.u.loginView {
		t.Fatal("a revoked token did not return to the login form")
	}
	if !strings.Contains(h.u.loginErr.Text, "Your login expired") || h.u.userEntry.Text != "tech@example.com" {
		t.Errorf("login form after expiry: error %q, user %q", h.u.loginErr.Text, h.u.userEntry.Text)
	}
}
