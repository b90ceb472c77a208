package console

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Phase is the step of the console the user is at.
type Phase int

const (
	PhaseLogin Phase = iota // relay, user, password
	PhaseMFA                // the emailed code or a recovery code
	PhaseMain               // logged in: My devices, My sessions
)

// Column is a column of the devices table; the sort key.
type Column int

const (
	ColFavorite Column = iota
	ColName
	ColStatus
	ColOS
	ColGroups
	ColUser
	ColDescription
	numColumns
)

var columnTitles = [numColumns]string{"", "Name", "Status", "OS", "Groups", "User", "Description"}

// Model is the console's state without widgets: the login steps, the
// chosen account, the devices and the OnDemand queue. Its methods may block
// on the relay; the UI calls them off the main goroutine and re-renders
// from the getters. Safe for concurrent use.
type Model struct {
	log       *slog.Logger
	dir       string
	transport transport.Config
	newAPI    func(relay, token string) (API, error)
	now       func() time.Time

	mu        sync.Mutex
	phase     Phase
	relay     string
	user      string
	loginErr  string
	api       API
	challenge string
	me        wire.User
	account   string // the chosen account's id
	devices   []wire.Device
	filter    string
	sortCol   Column
	sortDesc  bool
	sessions  []wire.OnDemandSession
	follow    string // a tandem:// link's device, opened once listed (follow.go)
}

func newModel(log *slog.Logger, dir string, tc transport.Config, newAPI func(string, string) (API, error), now func() time.Time) *Model {
	return &Model{log: log, dir: dir, transport: tc, newAPI: newAPI, now: now, sortCol: ColName}
}

// Start offers the remembered relay and user and, while the remembered
// token is valid, skips the login.
func (m *Model) Start(ctx context.Context) {
	st, err := guest.LoadRemembered(m.dir)
	if err != nil {
		m.mu.Lock()
		m.loginErr = upper(err.Error()) + "."
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	m.relay, m.user = st.Relay, st.Email
	m.mu.Unlock()
	if st.Token == "" || (st.ExpiresAt != 0 && !m.now().Before(time.Unix(st.ExpiresAt, 0))) {
		return
	}
	api, err := m.newAPI(st.Relay, st.Token)
	if err != nil {
		return
	}
	me, err := api.Me(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case errors.Is(err, guest.ErrUnauthorized):
		// Revoked or expired: the login form, prefilled.
	case err != nil:
		m.loginErr = explain(err)
	default:
		m.enter(api, *me)
	}
}

// Phase returns the current step.
func (m *Model) Phase() Phase { m.mu.Lock(); defer m.mu.Unlock(); return m.phase }

// Remembered returns the relay and user to prefill the login form with.
func (m *Model) Remembered() (relay, user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.relay, m.user
}

// LoginError is the message to show on the login or code step ("" none).
func (m *Model) LoginError() string { m.mu.Lock(); defer m.mu.Unlock(); return m.loginErr }

// Login sends the password; the model moves to PhaseMFA when the relay
// emailed a code, to PhaseMain when logged in, or stays with LoginError.
func (m *Model) Login(ctx context.Context, relay, user, password string) {
	relay, user = strings.TrimSpace(relay), strings.TrimSpace(user)
	fail := func(msg string) { m.mu.Lock(); m.loginErr = msg; m.mu.Unlock() }
	switch {
	case relay == "":
		fail("Enter the relay's address, e.g. https://relay.example.com.")
		return
	case user == "":
		fail("Enter your email address or DOMAIN\\user.")
		return
	case password == "":
		fail("Enter your password.")
		return
	}
	if !strings.Contains(relay, "://") {
		relay = "https://" + relay // what a relay.example.com typed by hand means
	}
	api, err := m.newAPI(relay, "")
	if err != nil {
		fail(upper(err.Error()) + ".")
		return
	}
	lr, err := api.Login(ctx, user, password)
	if err != nil {
		fail(explain(err))
		return
	}
	m.mu.Lock()
	m.relay, m.user = api.Relay(), user
	m.loginErr = ""
	if lr.MFARequired {
		m.api, m.challenge, m.phase = api, lr.Challenge, PhaseMFA
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.finish(ctx, api, lr)
}

// SubmitCode finishes a login that asked for MFA, with the emailed
// six-digit code or a recovery code.
func (m *Model) SubmitCode(ctx context.Context, code string) {
	code = strings.Join(strings.Fields(code), "")
	m.mu.Lock()
	api, challenge := m.api, m.challenge
	if m.phase != PhaseMFA || api == nil {
		m.mu.Unlock()
		return
	}
	if code == "" {
		m.loginErr = "Enter the code from the email, or one of your recovery codes."
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	lr, err := api.LoginMFA(ctx, challenge, code)
	if err != nil {
		m.mu.Lock()
		m.loginErr = explain(err)
		m.mu.Unlock()
		return
	}
	m.finish(ctx, api, lr)
}

// CancelMFA goes back to the password step.
func (m *Model) CancelMFA() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase, m.api, m.challenge, m.loginErr = PhaseLogin, nil, "", ""
}

func (m *Model) finish(ctx context.Context, api API, lr *wire.LoginResponse) {
	u := lr.User
	if len(u.Accounts) == 0 {
		if me, err := api.Me(ctx); err == nil {
			u = *me
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.Email != "" {
		m.user = u.Email
	}
	if err := guest.SaveState(m.dir, &guest.State{Relay: api.Relay(), Email: m.user, Token: api.Token(), ExpiresAt: lr.ExpiresAt}); err != nil {
		// Logged in all the same; only the next start asks again.
		m.log.Warn("console: cannot remember the login", "err", err)
	}
	m.enter(api, u)
}

// enter switches to the main view (m.mu held).
func (m *Model) enter(api API, u wire.User) {
	m.api, m.me, m.phase, m.challenge, m.loginErr = api, u, PhaseMain, "", ""
	m.account = ""
	if len(u.Accounts) > 0 {
		m.account = u.Accounts[0].ID
	}
}

// Logout forgets the token (the relay and user stay to prefill the form).
func (m *Model) Logout() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logout("")
}

func (m *Model) logout(msg string) {
	if err := guest.SaveState(m.dir, &guest.State{Relay: m.relay, Email: m.user}); err != nil {
		m.log.Warn("console: cannot forget the login", "err", err)
	}
	m.phase, m.api, m.me, m.account, m.devices, m.sessions, m.loginErr = PhaseLogin, nil, wire.User{}, "", nil, nil, msg
}

// expired logs out when err says the token is no longer valid.
func (m *Model) expired(err error) {
	if errors.Is(err, guest.ErrUnauthorized) {
		m.mu.Lock()
		m.logout("Your login expired: log in again.")
		m.mu.Unlock()
	}
}

// User is who is logged in.
func (m *Model) User() wire.User { m.mu.Lock(); defer m.mu.Unlock(); return m.me }

// Account is the chosen account's id.
func (m *Model) Account() string { m.mu.Lock(); defer m.mu.Unlock(); return m.account }

// SetAccount chooses which account's devices and sessions are shown.
func (m *Model) SetAccount(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.me.Accounts {
		if a.ID == id {
			m.account = id
		}
	}
}

func (m *Model) client() (API, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.api == nil || m.phase != PhaseMain {
		return nil, guest.ErrUnauthorized
	}
	return m.api, nil
}

// RefreshDevices reloads the device list.
func (m *Model) RefreshDevices(ctx context.Context) error {
	api, err := m.client()
	if err != nil {
		return err
	}
	ds, err := api.Devices(ctx)
	if err != nil {
		m.expired(err)
		return err
	}
	m.mu.Lock()
	if m.api == api {
		m.devices = ds
	}
	m.mu.Unlock()
	return nil
}

// SetFilter keeps only the devices with text in any column.
func (m *Model) SetFilter(text string) { m.mu.Lock(); m.filter = text; m.mu.Unlock() }

// SortBy sorts by col, or reverses the order when it already sorts by col.
func (m *Model) SortBy(col Column) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if col <= ColFavorite || col >= numColumns {
		return
	}
	if m.sortCol == col {
		m.sortDesc = !m.sortDesc
	} else {
		m.sortCol, m.sortDesc = col, false
	}
}

// Sort returns the sort column and direction.
func (m *Model) Sort() (Column, bool) { m.mu.Lock(); defer m.mu.Unlock(); return m.sortCol, m.sortDesc }

// cell is the text of a device's column.
func cell(d wire.Device, col Column, now time.Time) string {
	switch col {
	case ColName:
		if d.Name != d.Hostname && d.Hostname != "" {
			return d.Name + " (" + d.Hostname + ")"
		}
		return d.Name
	case ColStatus:
		return status(d.Online, d.LastSeen, now)
	case ColOS:
		return d.OS
	case ColGroups:
		return strings.Join(d.Groups, ", ")
	case ColUser:
		return d.User
	case ColDescription:
		return d.Description
	}
	return ""
}

// Devices returns the chosen account's devices that match the filter:
// favorites first, then in the sort order.
func (m *Model) Devices() []wire.Device {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	needle := strings.ToLower(strings.TrimSpace(m.filter))
	var out []wire.Device
	for _, d := range m.devices {
		if m.account != "" && d.AccountID != "" && d.AccountID != m.account {
			continue
		}
		if needle != "" && !slices.ContainsFunc([]Column{ColName, ColStatus, ColOS, ColGroups, ColUser, ColDescription},
			func(c Column) bool { return strings.Contains(strings.ToLower(cell(d, c, now)), needle) }) {
			continue
		}
		out = append(out, d)
	}
	col, desc := m.sortCol, m.sortDesc
	slices.SortStableFunc(out, func(a, b wire.Device) int {
		if a.Favorite != b.Favorite {
			if a.Favorite {
				return -1
			}
			return 1
		}
		var c int
		if col == ColStatus { // online first, then the most recently seen
			c = cmp.Compare(b.LastSeen+boolInt(b.Online)<<62, a.LastSeen+boolInt(a.Online)<<62)
		} else {
			c = cmp.Compare(strings.ToLower(cell(a, col, now)), strings.ToLower(cell(b, col, now)))
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	})
	return out
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ToggleFavorite stars or unstars a device on the relay.
func (m *Model) ToggleFavorite(ctx context.Context, id string) error {
	api, err := m.client()
	if err != nil {
		return err
	}
	m.mu.Lock()
	i := slices.IndexFunc(m.devices, func(d wire.Device) bool { return d.ID == id })
	if i < 0 {
		m.mu.Unlock()
		return errors.New("the device is no longer listed")
	}
	fav := !m.devices[i].Favorite
	m.mu.Unlock()
	if err := api.SetFavorite(ctx, id, fav); err != nil {
		m.expired(err)
		return err
	}
	m.mu.Lock()
	if i := slices.IndexFunc(m.devices, func(d wire.Device) bool { return d.ID == id }); i >= 0 {
		m.devices[i].Favorite = fav
	}
	m.mu.Unlock()
	return nil
}

// Connect opens a session on device for action (remote_control,
// file_transfer, chat); onConfirm is told when someone must allow it by
// email first.
func (m *Model) Connect(ctx context.Context, device, action string, onConfirm func(*wire.Confirmation)) (*guest.Session, error) {
	api, err := m.client()
	if err != nil {
		return nil, err
	}
	s, err := api.Connect(ctx, device, guest.ConnectOptions{Action: action, Transport: m.transport,
		OnConfirmation: onConfirm, Timeout: 45 * time.Second})
	m.expired(err)
	return s, err
}

// RefreshSessions reloads the OnDemand keys and queue.
func (m *Model) RefreshSessions(ctx context.Context) error {
	api, err := m.client()
	if err != nil {
		return err
	}
	ss, err := api.OnDemandSessions(ctx)
	if err != nil {
		m.expired(err)
		return err
	}
	m.mu.Lock()
	if m.api == api {
		m.sessions = ss
	}
	m.mu.Unlock()
	return nil
}

// Sessions returns the chosen account's live OnDemand sessions: those
// waiting in the queue first (longest wait first), then the keys handed
// out, newest first.
func (m *Model) Sessions() []wire.OnDemandSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wire.OnDemandSession
	for _, s := range m.sessions {
		if m.account != "" && s.AccountID != "" && s.AccountID != m.account {
			continue
		}
		switch s.State {
		case wire.OnDemandEnded, wire.OnDemandRejected, wire.OnDemandExpired:
			continue
		}
		out = append(out, s)
	}
	rank := func(s wire.OnDemandSession) int {
		switch s.State {
		case wire.OnDemandWaiting:
			return 0
		case wire.OnDemandStarted:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b wire.OnDemandSession) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		if a.State == wire.OnDemandWaiting {
			return cmp.Compare(a.JoinedAt, b.JoinedAt)
		}
		return cmp.Compare(b.CreatedAt, a.CreatedAt)
	})
	return out
}

// CreateSession makes a new OnDemand key in the chosen account.
func (m *Model) CreateSession(ctx context.Context) (*wire.OnDemandSession, error) {
	api, err := m.client()
	if err != nil {
		return nil, err
	}
	s, err := api.CreateOnDemand(ctx, m.Account())
	if err != nil {
		m.expired(err)
		return nil, err
	}
	m.mu.Lock()
	m.sessions = append(m.sessions, *s)
	m.mu.Unlock()
	return s, nil
}

// EmailSession sends key's link to the end user.
func (m *Model) EmailSession(ctx context.Context, key, email string) error {
	email = strings.TrimSpace(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return errors.New("enter the end user's email address, e.g. jane@example.com")
	}
	api, err := m.client()
	if err != nil {
		return err
	}
	err = api.EmailOnDemand(ctx, key, email)
	m.expired(err)
	return err
}

// RejectSession kills key: its agent, if any, is disconnected and exits.
func (m *Model) RejectSession(ctx context.Context, key string) error {
	api, err := m.client()
	if err != nil {
		return err
	}
	if err := api.RejectOnDemand(ctx, key); err != nil {
		m.expired(err)
		return err
	}
	m.mu.Lock()
	m.sessions = slices.DeleteFunc(m.sessions, func(s wire.OnDemandSession) bool { return s.Key == key })
	m.mu.Unlock()
	return nil
}

// StartSession starts the waiting OnDemand session key; it returns once
// the end user allowed it and the session runs.
func (m *Model) StartSession(ctx context.Context, key string) (*guest.Session, error) {
	api, err := m.client()
	if err != nil {
		return nil, err
	}
	s, err := api.Connect(ctx, "", guest.ConnectOptions{OnDemand: key, Transport: m.transport})
	m.expired(err)
	return s, err
}
