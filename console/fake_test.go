package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// fakeRelay is a test double of the relay API (the OnDemand API is built
// in parallel; the lead's end-to-end run covers the real one). It keeps
// what it was asked so tests check the console's calls.
type fakeRelay struct {
	mu       sync.Mutex
	relay    string
	token    string
	password string
	mfa      bool
	code     string // the emailed code
	recovery string // one recovery code, normalized (no dash)
	tries    int
	loginErr error // returned by Login when set
	user     wire.User
	devices  []wire.Device
	sessions []wire.OnDemandSession
	nextKey  string

	favCalls   []string // "+id" or "-id"
	created    []string // accounts passed to CreateOnDemand
	emailed    []string // "key email"
	rejected   []string
	connects   []guest.ConnectOptions
	connectTo  []string
	connectErr error
	confirm    *wire.Confirmation
	during     func() // runs inside Connect, while the progress dialog shows
}

func (f *fakeRelay) api(relay, token string) (API, error) {
	if !strings.HasPrefix(relay, "http") {
		return nil, errors.New("guest: relay URL must look like https://relay.example.com")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.relay = strings.TrimRight(relay, "/")
	if token != "" && token != f.token {
		return &fakeClient{f: f, token: "stale"}, nil
	}
	return &fakeClient{f: f, token: token}, nil
}

type fakeClient struct {
	f     *fakeRelay
	token string
}

func (c *fakeClient) Relay() string { return c.f.relay }
func (c *fakeClient) Token() string { return c.token }

func (c *fakeClient) Login(_ context.Context, email, password string) (*wire.LoginResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loginErr != nil {
		return nil, f.loginErr
	}
	if email != f.user.Email || password != f.password {
		return nil, &guest.APIError{Status: http.StatusUnauthorized, Code: "bad_credentials",
			Message: "wrong email or password (after 5 failed attempts in a row a user is locked for 15 minutes)"}
	}
	if f.mfa {
		return &wire.LoginResponse{MFARequired: true, Challenge: "chal"}, nil
	}
	c.token = f.token
	return &wire.LoginResponse{Token: f.token, User: f.user, ExpiresAt: time.Now().Add(time.Hour).Unix()}, nil
}

func (c *fakeClient) LoginMFA(_ context.Context, challenge, code string) (*wire.LoginResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	// As guest.Client.LoginMFA and the relay: more than six characters is a
	// recovery code, read without its dash, case-insensitively.
	ok := challenge == "chal" && code == f.code
	if len(code) > 6 {
		ok = challenge == "chal" && strings.ToUpper(strings.ReplaceAll(code, "-", "")) == f.recovery
	}
	if !ok {
		f.tries++
		return nil, &guest.APIError{Status: http.StatusUnauthorized, Code: "mfa_failed", Message: "wrong code; 2 tries left"}
	}
	c.token = f.token
	return &wire.LoginResponse{Token: f.token, User: f.user, ExpiresAt: time.Now().Add(time.Hour).Unix()}, nil
}

func (c *fakeClient) authed() error {
	if c.token != c.f.token {
		return guest.ErrUnauthorized
	}
	return nil
}

func (c *fakeClient) Me(context.Context) (*wire.User, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.authed(); err != nil {
		return nil, err
	}
	u := c.f.user
	return &u, nil
}

func (c *fakeClient) Devices(context.Context) ([]wire.Device, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.authed(); err != nil {
		return nil, err
	}
	return slices.Clone(c.f.devices), nil
}

func (c *fakeClient) SetFavorite(_ context.Context, id string, fav bool) error {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.authed(); err != nil {
		return err
	}
	sign := "-"
	if fav {
		sign = "+"
	}
	f.favCalls = append(f.favCalls, sign+id)
	for i := range f.devices {
		if f.devices[i].ID == id {
			f.devices[i].Favorite = fav
		}
	}
	return nil
}

func (c *fakeClient) CreateOnDemand(_ context.Context, account string) (*wire.OnDemandSession, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.authed(); err != nil {
		return nil, err
	}
	f.created = append(f.created, account)
	s := wire.OnDemandSession{Key: f.nextKey, Link: f.relay + "/s/" + f.nextKey, AccountID: account,
		State: wire.OnDemandCreated, CreatedBy: f.user.Email, CreatedAt: time.Now().Unix()}
	f.sessions = append(f.sessions, s)
	return &s, nil
}

func (c *fakeClient) OnDemandSessions(context.Context) ([]wire.OnDemandSession, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.authed(); err != nil {
		return nil, err
	}
	return slices.Clone(c.f.sessions), nil
}

func (c *fakeClient) EmailOnDemand(_ context.Context, key, email string) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.authed(); err != nil {
		return err
	}
	c.f.emailed = append(c.f.emailed, key+" "+email)
	return nil
}

func (c *fakeClient) RejectOnDemand(_ context.Context, key string) error {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.authed(); err != nil {
		return err
	}
	f.rejected = append(f.rejected, key)
	f.sessions = slices.DeleteFunc(f.sessions, func(s wire.OnDemandSession) bool { return s.Key == key })
	return nil
}

func (c *fakeClient) Connect(_ context.Context, device string, o guest.ConnectOptions) (*guest.Session, error) {
	f := c.f
	f.mu.Lock()
	if err := c.authed(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	f.connects = append(f.connects, o)
	f.connectTo = append(f.connectTo, device)
	confirm, during, err := f.confirm, f.during, f.connectErr
	f.mu.Unlock()
	if confirm != nil && o.OnConfirmation != nil {
		o.OnConfirmation(confirm)
	}
	if during != nil {
		during()
	}
	if err != nil {
		return nil, err
	}
	return &guest.Session{ID: "session-1", DeviceID: device}, nil
}

// harness is a console window over a fakeRelay, driven synchronously by
// Fyne's test driver.
type harness struct {
	t      *testing.T
	f      *fakeRelay
	m      *Model
	u      *ui
	dir    string
	now    time.Time
	opened []remoteOptions
}

func newHarness(t *testing.T, f *fakeRelay) *harness {
	t.Helper()
	return newHarnessAPI(t, f, f.api)
}

// newHarnessAPI is newHarness over any API (the real one included).
func newHarnessAPI(t *testing.T, f *fakeRelay, newAPI func(relay, token string) (API, error)) *harness {
	t.Helper()
	a := test.NewTempApp(t)
	h := &harness{t: t, f: f, dir: t.TempDir(), now: time.Unix(1_800_000_000, 0)}
	h.m = newModel(testLogger(), h.dir, transportConfig(), newAPI, func() time.Time { return h.now })
	h.m.Start(context.Background())
	h.u = newUI(context.Background(), a, h.m, testLogger())
	h.u.async = func(f func()) { f() }
	h.u.do = func(f func()) { f() }
	h.u.open = func(_ fyne.App, s *guest.Session, o remoteOptions) fyne.Window {
		h.opened = append(h.opened, o)
		return nil
	}
	h.u.render()
	h.u.win.Show()
	t.Cleanup(h.u.win.Close)
	return h
}

func (h *harness) login(user, password string) {
	h.t.Helper()
	h.u.relayEntry.SetText("")
	test.Type(h.u.relayEntry, "http://relay.test/")
	h.u.userEntry.SetText("")
	test.Type(h.u.userEntry, user)
	test.Type(h.u.passEntry, password)
	test.Tap(h.u.loginBtn)
}

// overlayTexts is every label text in the dialogs shown.
func (h *harness) overlayTexts() string {
	var out []string
	for _, o := range h.u.win.Canvas().Overlays().List() {
		for _, x := range test.LaidOutObjects(o) {
			if l, ok := x.(*widget.Label); ok && l.Visible() {
				out = append(out, l.Text)
			}
		}
	}
	return strings.Join(out, "\n")
}

// button finds a shown dialog's button by its text.
func (h *harness) button(text string) *widget.Button {
	h.t.Helper()
	for _, o := range h.u.win.Canvas().Overlays().List() {
		for _, x := range test.LaidOutObjects(o) {
			if b, ok := x.(*widget.Button); ok && b.Text == text && b.Visible() {
				return b
			}
		}
	}
	h.t.Fatalf("no %q button in the dialogs shown; they read:\n%s", text, h.overlayTexts())
	return nil
}

func (h *harness) closeDialogs() {
	for h.u.win.Canvas().Overlays().Top() != nil {
		h.u.win.Canvas().Overlays().Remove(h.u.win.Canvas().Overlays().Top())
	}
}

// deviceRows is the devices table as text: one line per row, the columns
// separated by "|" (the star column as * or -).
func (h *harness) deviceRows() []string {
	v := h.u.devs
	var out []string
	rows, cols := v.table.Length()
	for r := 0; r < rows; r++ {
		var cells []string
		for c := 0; c < cols; c++ {
			o := v.table.CreateCell()
			v.updateCell(widget.TableCellID{Row: r, Col: c}, o)
			st := o.(*fyne.Container)
			if Column(c) == ColFavorite {
				if st.Objects[1].(*widget.Icon).Resource == starOn {
					cells = append(cells, "*")
				} else {
					cells = append(cells, "-")
				}
				continue
			}
			cells = append(cells, st.Objects[0].(*widget.Label).Text)
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}
