package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
)

// Caller is who sent an authenticated request.
type Caller struct {
	User      store.User
	TokenHash string        // login token; "" for an API key
	APIKey    *store.APIKey // set when the caller used an API key
}

// Audit is one event to record; empty fields are stored as NULL.
type Audit struct {
	Event   string
	Account string
	User    string
	Device  string
	Remote  string
	Detail  map[string]any
	Always  bool // recorded even when the account turned logging off
}

// Kit is what a handler package needs of the relay: its store and clock,
// who the caller is, and the audit log. The relay fills it in.
type Kit struct {
	Store *store.Store
	Log   *slog.Logger
	Now   func() time.Time
	// Authenticate resolves r's bearer token (login token or API key).
	Authenticate func(r *http.Request) (Caller, error)
	// Record appends an event outside any transaction; a failure is
	// logged, never returned: the action it describes has happened.
	Record func(Audit)
	// Atomically runs fn in one store transaction and writes the events
	// fn audits in that same transaction.
	Atomically func(ctx context.Context, fn func(tx *store.Store, audit func(Audit)) error) error
}

// Serve turns h into an http.HandlerFunc that answers h's error.
func (k *Kit) Serve(h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(k.Log, w, r, err)
		}
	}
}

// Member resolves the {account} path value (id or name) among c's
// memberships. Accounts c is not in answer 404 like missing ones, so ids
// and names can't be probed.
func (k *Kit) Member(r *http.Request, c Caller) (store.Membership, error) {
	ref := r.PathValue("account")
	notFound := Errf(http.StatusNotFound, CodeNotFound, "no account %q among yours", ref)
	ms, err := k.Store.Memberships(r.Context(), c.User.ID)
	if err != nil {
		return store.Membership{}, err
	}
	for _, m := range ms {
		if m.AccountID != ref && !strings.EqualFold(m.AccountName, ref) {
			continue
		}
		if c.APIKey != nil && c.APIKey.AccountID != m.AccountID {
			return store.Membership{}, notFound // a key works in its own account only
		}
		if m.Disabled {
			return store.Membership{}, Errf(http.StatusForbidden, CodeForbidden, "you are disabled in this account")
		}
		return m, nil
	}
	return store.Membership{}, notFound
}

// AuthedMember authenticates the caller and resolves {account} among
// their memberships.
func (k *Kit) AuthedMember(r *http.Request) (Caller, store.Membership, error) {
	c, err := k.Authenticate(r)
	if err != nil {
		return c, store.Membership{}, err
	}
	m, err := k.Member(r, c)
	return c, m, err
}

// IsAdmin: account administrators and the owner manage the account.
func IsAdmin(t store.MemberType) bool { return t == store.Owner || t == store.Admin }

// IsManager: group managers and up manage users and devices, view roles
// and role assignments and generate log reports (spec 4.1).
func IsManager(t store.MemberType) bool { return IsAdmin(t) || t == store.GroupManager }

// Admin authenticates the caller as an administrator (or the owner) of
// {account}; what is the refused action, for the message.
func (k *Kit) Admin(r *http.Request, what string) (Caller, store.Membership, error) {
	c, m, err := k.AuthedMember(r)
	if err == nil && !IsAdmin(m.Type) {
		err = Errf(http.StatusForbidden, CodeForbidden, "only account administrators and the owner %s", what)
	}
	return c, m, err
}

// Manager authenticates the caller as a group manager or higher of
// {account}; what is the refused action, for the message.
func (k *Kit) Manager(r *http.Request, what string) (Caller, store.Membership, error) {
	c, m, err := k.AuthedMember(r)
	if err == nil && !IsManager(m.Type) {
		err = Errf(http.StatusForbidden, CodeForbidden, "only group managers and up %s", what)
	}
	return c, m, err
}

// Rec is the event done in account by the caller of r.
func (k *Kit) Rec(r *http.Request, c Caller, account, event string, detail map[string]any) Audit {
	return Audit{Event: event, Account: account, User: c.User.ID, Remote: RemoteIP(r), Detail: detail}
}

// Commit is Atomically for one write and its one event; rec runs after
// write succeeded, so it may describe what write returned.
func (k *Kit) Commit(ctx context.Context, write func(tx *store.Store) error, rec func() Audit) error {
	return k.Atomically(ctx, func(tx *store.Store, audit func(Audit)) error {
		if err := write(tx); err != nil {
			return err
		}
		audit(rec())
		return nil
	})
}

// Bounds of client-supplied fields shared by every endpoint.
const (
	MaxID          = 64   // an id in a path or body
	MaxShortText   = 128  // names
	MaxDescription = 1024 // descriptions
)

// APIKeyPrefix starts every API key, so the relay can tell them from login
// tokens (which are base64url and never contain "_" at index 3).
const APIKeyPrefix = "tdk_"

// RequireLogin refuses API keys on routes only a person may use (keys,
// passwords, recovery codes).
func RequireLogin(c Caller) error {
	if c.APIKey != nil {
		return Errf(http.StatusForbidden, CodeForbidden, "an API key cannot do this; log in with your password")
	}
	return nil
}
