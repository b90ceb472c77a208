package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// Bootstrap operations for `tandem-relay admin`: what an operator needs
// before anyone can use the API (more accounts, users, a permission check).

// CreateAccount creates an account with ownerEmail as its owner: an
// existing user keeps their password; a new one needs password (the
// spec's rules). The owner starts in the account's Administrators group.
func (a *Admin) CreateAccount(ctx context.Context, name, ownerEmail, password string) (store.Account, store.User, error) {
	if err := checkName(name); err != nil {
		return store.Account{}, store.User{}, fmt.Errorf("account name: %w", err)
	}
	email, err := NormalizeEmail(ownerEmail)
	if err != nil {
		return store.Account{}, store.User{}, err
	}
	u, err := a.st.UserByEmail(ctx, email)
	var newUser *store.User
	if errors.Is(err, store.ErrNotFound) {
		if newUser, err = a.newUser(email, password); err != nil {
			return store.Account{}, store.User{}, err
		}
	} else if err != nil {
		return store.Account{}, store.User{}, err
	}
	var acct store.Account
	err = a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if newUser != nil {
			if u, err = tx.CreateUser(ctx, *newUser); err != nil {
				return err
			}
		}
		if acct, err = tx.CreateAccount(ctx, store.Account{Name: name, CreatedAt: a.now()}); err != nil {
			return err
		}
		if err := tx.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Owner, OnDemand: true, CreatedAt: a.now()}); err != nil {
			return err
		}
		audit(auditRec{Event: EvAccountCreated, Account: acct.ID, User: u.ID, Detail: map[string]any{"name": name, "owner": email}})
		return tx.SeedAccess(ctx, acct.ID, u.ID)
	})
	if errors.Is(err, store.ErrConflict) {
		return acct, u, fmt.Errorf("an account named %q exists already", name)
	}
	return acct, u, err
}

// newUser is the user to create for email, its password hashed outside
// any transaction.
func (a *Admin) newUser(email, password string) (*store.User, error) {
	if password == "" {
		return nil, fmt.Errorf("%s is a new user: give a password", email)
	}
	if err := secret.ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := secret.HashPassword(password)
	if err != nil {
		return nil, err
	}
	return &store.User{Email: email, PasswordHash: hash, CreatedAt: a.now()}, nil
}

// AddUser makes email (created with password if new) a member of account
// with type typ (user, group_manager or admin: the owner changes only
// through the change-owner flow).
func (a *Admin) AddUser(ctx context.Context, account, email, password string, typ store.MemberType) (store.User, error) {
	if typ == store.Owner || !typ.Valid() {
		return store.User{}, fmt.Errorf("type must be user, group_manager or admin, not %q", typ)
	}
	acct, err := a.ResolveAccount(ctx, account)
	if err != nil {
		return store.User{}, err
	}
	email, err = NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	u, err := a.st.UserByEmail(ctx, email)
	var newUser *store.User
	if errors.Is(err, store.ErrNotFound) {
		newUser, err = a.newUser(email, password)
	}
	if err != nil {
		return u, err
	}
	err = a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if newUser != nil {
			if u, err = tx.CreateUser(ctx, *newUser); err != nil {
				return err
			}
		}
		if err := tx.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: typ, OnDemand: true, CreatedAt: a.now()}); err != nil {
			return err
		}
		audit(auditRec{Event: EvUserCreated, Account: acct.ID, User: u.ID, Detail: map[string]any{"email": email, "type": string(typ)}})
		if typ == store.Admin {
			// Administrators start with the administrators' full access, as
			// the owner does; an administrator can change that like any
			// assignment.
			return tx.AddGroupMember(ctx, store.AdministratorsGroupID(acct.ID), u.ID)
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return u, fmt.Errorf("%s is in %s already", email, acct.Name)
	}
	return u, err
}

// Check is Check permissions from the command line: the evaluator's
// decision for user (email or id) on device (id or hostname) at at.
func (a *Admin) Check(ctx context.Context, account, user, device string, at time.Time) (policy.Decision, error) {
	acct, err := a.ResolveAccount(ctx, account)
	if err != nil {
		return policy.Decision{}, err
	}
	u, err := a.st.UserByEmail(ctx, strings.ToLower(user))
	if errors.Is(err, store.ErrNotFound) {
		u, err = a.st.User(ctx, user)
	}
	if errors.Is(err, store.ErrNotFound) {
		return policy.Decision{}, fmt.Errorf("no user %q", user)
	} else if err != nil {
		return policy.Decision{}, err
	}
	d, err := a.st.Device(ctx, device)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.AccountID != acct.ID) {
		ds, err2 := a.st.DevicesByHostname(ctx, []string{acct.ID}, device)
		if err2 != nil {
			return policy.Decision{}, err2
		}
		if len(ds) != 1 {
			return policy.Decision{}, fmt.Errorf("%d devices of %s match %q", len(ds), acct.Name, device)
		}
		d, err = ds[0], nil
	}
	if err != nil {
		return policy.Decision{}, err
	}
	snap, err := a.st.Snapshot(ctx, acct.ID)
	if err != nil {
		return policy.Decision{}, err
	}
	return policy.Evaluate(policy.NewModel(snap), policy.Request{UserID: u.ID, DeviceID: d.ID, ClientType: policy.ClientInstalledGuest,
		At: at, StateUnknown: true, Explain: true}), nil
}

// Accounts lists every account.
func (a *Admin) Accounts(ctx context.Context) ([]store.Account, error) { return a.st.Accounts(ctx) }

// UnlockUser lifts a user's login blocks (the lock after failed logins
// and every source's delays), the owner's too: the way back in for an
// owner whom guessers keep locked out. A running relay drops its delays
// counted before the unlock at the user's next attempt.
func (a *Admin) UnlockUser(ctx context.Context, email string) (store.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return store.User{}, err
	}
	u, err := a.st.UserByEmail(ctx, e)
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("no user %s", e)
	} else if err != nil {
		return u, err
	}
	if err := a.st.UnlockUser(ctx, u.ID, a.now()); err != nil {
		return u, err
	}
	ms, err := a.st.Memberships(ctx, u.ID)
	if err != nil {
		return u, err
	}
	for _, m := range ms {
		a.audit(auditRec{Event: EvUserUnlocked, Account: m.AccountID, Detail: map[string]any{"user": u.ID}})
	}
	return u, nil
}
