package relay

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// mailbox is a mail.Sender that records what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error // returned by Send when set
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

// count is how many messages were sent.
func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// setFail makes Send fail with err (nil: succeed again).
func (m *mailbox) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// to returns the messages sent to addr, oldest first.
func (m *mailbox) to(addr string) []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.msgs {
		if slices.Contains(msg.To, addr) {
			out = append(out, msg)
		}
	}
	return out
}

var codeLine = regexp.MustCompile(`(?m)^ {2,4}(\S+)$`)

var tokenLink = regexp.MustCompile(`#token=(\S+)`)

// secretOf extracts the token from a message's link (#token=...), or the
// code from one without a link (an MFA code): its one indented line.
func secretOf(t *testing.T, msg mail.Message) string {
	t.Helper()
	if m := tokenLink.FindStringSubmatch(msg.Text); m != nil {
		tok, err := url.QueryUnescape(m[1])
		if err != nil {
			t.Fatalf("message %q: %v", msg.Text, err)
		}
		return tok
	}
	m := codeLine.FindAllStringSubmatch(msg.Text, -1)
	if len(m) != 1 {
		t.Fatalf("message %q: want one code line, found %d", msg.Text, len(m))
	}
	return m[0][1]
}

// lastSecret is secretOf the newest message to addr.
func (m *mailbox) lastSecret(t *testing.T, addr string) string {
	t.Helper()
	msgs := m.to(addr)
	if len(msgs) == 0 {
		t.Fatalf("no email to %s", addr)
	}
	return secretOf(t, msgs[len(msgs)-1])
}

func withMail(mb *mailbox) func(*Config) { return func(c *Config) { c.Mail = mb } }

const memberPass = "Memb3rPass"

var memberHash = sync.OnceValue(func() string {
	h, err := secret.HashPassword(memberPass)
	if err != nil {
		panic(err)
	}
	return h
})

// acme is the account newEnv made.
func (e *env) acme() store.Account {
	e.t.Helper()
	a, err := e.srv.Store().AccountByName(context.Background(), "Acme")
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// member adds a user (password memberPass) to account with settings from
// mod and returns it with a fresh login token.
func (e *env) member(account, email string, typ store.MemberType, mod ...func(*store.Membership)) (store.User, string) {
	e.t.Helper()
	ctx := context.Background()
	st := e.srv.Store()
	u, err := st.UserByEmail(ctx, email)
	if err != nil {
		u, err = st.CreateUser(ctx, store.User{Email: email, Name: strings.Split(email, "@")[0], PasswordHash: memberHash(), CreatedAt: e.clock.Now()})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	m := store.Membership{AccountID: account, UserID: u.ID, Type: typ, OnDemand: true, CreatedAt: e.clock.Now()}
	for _, f := range mod {
		f(&m)
	}
	if err := st.AddMembership(ctx, m); err != nil {
		e.t.Fatal(err)
	}
	return u, e.token(u.ID)
}

// token logs userID in without the password work.
func (e *env) token(userID string) string {
	e.t.Helper()
	tok := secret.NewToken()
	now := e.clock.Now()
	if err := e.srv.Store().CreateLoginToken(context.Background(), store.LoginToken{Hash: secret.Hash(tok), UserID: userID,
		CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// apiKey gives the member an API key directly.
func (e *env) apiKey(account, userID string) (store.APIKey, string) {
	e.t.Helper()
	key := apiKeyPrefix + secret.NewToken()
	k, err := e.srv.Store().CreateAPIKey(context.Background(), store.APIKey{AccountID: account, UserID: userID,
		Prefix: key[:10], Hash: secret.Hash(key), CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().AddDate(0, 0, 90)})
	if err != nil {
		e.t.Fatal(err)
	}
	return k, key
}

// snapshot dumps the tables user management writes (and the audit log), to
// prove a refused request wrote nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	db, err := sql.Open("sqlite", e.dbPath())
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, email, name, password_hash, disabled, auth, failed_logins, COALESCE(locked_until, 0) FROM users ORDER BY id`,
		`SELECT account_id, user_id, type, alias, ondemand, rc_action, api, mfa, disabled, log_admin, user_admin, user_creator FROM memberships ORDER BY account_id, user_id`,
		`SELECT id, mfa FROM accounts ORDER BY id`,
		`SELECT id, email, type, token_hash, resends, expires_at, COALESCE(accepted_at, 0) FROM invites ORDER BY id`,
		`SELECT token_hash, user_id, purpose, tries FROM user_tokens ORDER BY token_hash`,
		`SELECT user_id, code_hash, COALESCE(used_at, 0) FROM recovery_codes ORDER BY user_id, code_hash`,
		`SELECT id, account_id, user_id FROM api_keys ORDER BY id`,
		`SELECT token_hash FROM login_tokens ORDER BY token_hash`,
		`SELECT COUNT(*) FROM audit_events`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}
