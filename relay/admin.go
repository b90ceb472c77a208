package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tandem-rc/tandem/relay/safetext"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// DefaultAccountName names the first account when none is given.
const DefaultAccountName = "Default"

// Admin holds the administrative operations (the admin command today, the
// portal later). Get one from OpenAdmin (its own database handle) or from
// Server.Admin (shares the server's, and disconnects revoked agents at
// once; a standalone Admin's revocations reach a running relay within its
// next sweep).
type Admin struct {
	st    *store.Store
	now   func() time.Time
	kick  func(deviceID string)
	owned bool
	// changed tells an in-process relay that its cached access models are
	// stale (every Admin change is audited, so audit calls it).
	changed func()
}

// OpenAdmin opens the relay's database in dataDir for administration.
func OpenAdmin(ctx context.Context, dataDir string) (*Admin, error) {
	return OpenAdminDB(ctx, dataDir, "")
}

// OpenAdminDB opens the database db (as Config.DB: "" is the SQLite file in
// dataDir) for administration. Only that default needs dataDir.
func OpenAdminDB(ctx context.Context, dataDir, db string) (*Admin, error) {
	if db == "" {
		if dataDir == "" {
			return nil, errors.New("relay: no data directory")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("relay: data directory: %w", err)
		}
	}
	st, err := store.Open(ctx, dbOf(dataDir, db))
	if err != nil {
		return nil, err
	}
	return &Admin{st: st, now: time.Now, kick: func(string) {}, owned: true}, nil
}

// Close releases the database if this Admin opened it.
func (a *Admin) Close() error {
	if a.owned {
		return a.st.Close()
	}
	return nil
}

func (a *Admin) audit(r auditRec) {
	recordAudit(a.st, a.now, slog.New(slog.DiscardHandler), viaAdmin(r))
	if a.changed != nil {
		a.changed()
	}
}

func viaAdmin(r auditRec) auditRec {
	if r.Detail == nil {
		r.Detail = map[string]any{}
	}
	r.Detail["via"] = "admin"
	return r
}

// atomically commits fn's writes with the events it audits (see the
// Server's); the relay's cached access models are dropped after.
func (a *Admin) atomically(ctx context.Context, fn func(tx *store.Store, audit func(auditRec)) error) error {
	err := atomically(ctx, a.st, a.now, func(tx *store.Store, audit func(auditRec)) error {
		return fn(tx, func(r auditRec) { audit(viaAdmin(r)) })
	})
	if err == nil && a.changed != nil {
		a.changed()
	}
	return err
}

// InitResult tells what Init found and what it created.
type InitResult struct {
	Account        store.Account
	User           store.User
	AccountCreated bool
	UserCreated    bool
}

// Init makes sure an account and its owner exist. When the owner's email
// is already a user, nothing changes (the password is not touched).
func (a *Admin) Init(ctx context.Context, email, password, accountName string) (InitResult, error) {
	var res InitResult
	email, err := NormalizeEmail(email)
	if err != nil {
		return res, fmt.Errorf("owner email: %w", err)
	}
	if err := secret.ValidatePassword(password); err != nil {
		return res, err
	}
	if accountName == "" {
		accountName = DefaultAccountName
	}
	if err := checkName(accountName); err != nil {
		return res, fmt.Errorf("account name: %w", err)
	}
	u, err := a.st.UserByEmail(ctx, email)
	if err == nil {
		res.User = u
		if ms, err := a.st.Memberships(ctx, u.ID); err == nil && len(ms) > 0 {
			res.Account = store.Account{ID: ms[0].AccountID, Name: ms[0].AccountName}
		}
		return res, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return res, err
	}
	hash, err := secret.HashPassword(password)
	if err != nil {
		return res, err
	}
	err = a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		res = InitResult{}
		acct, err := tx.AccountByName(ctx, accountName)
		if errors.Is(err, store.ErrNotFound) {
			if acct, err = tx.CreateAccount(ctx, store.Account{Name: accountName, CreatedAt: a.now()}); err != nil {
				return err
			}
			res.AccountCreated = true
			audit(auditRec{Event: EvAccountCreated, Account: acct.ID, Detail: map[string]any{"name": acct.Name}})
		} else if err != nil {
			return err
		}
		res.Account = acct
		u, err := tx.CreateUser(ctx, store.User{Email: email, PasswordHash: hash, CreatedAt: a.now()})
		if err != nil {
			return err
		}
		if err := tx.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Owner, OnDemand: true, CreatedAt: a.now()}); err != nil {
			return err
		}
		if err := tx.SeedAccess(ctx, acct.ID, u.ID); err != nil {
			return err
		}
		res.User, res.UserCreated = u, true
		audit(auditRec{Event: EvUserCreated, Account: acct.ID, User: u.ID, Detail: map[string]any{"email": email, "type": "owner"}})
		return nil
	})
	return res, err
}

func checkName(n string) error { return safetext.Name(n, maxShortText) }

// ResolveAccount finds an account by id or name; "" means the only account.
func (a *Admin) ResolveAccount(ctx context.Context, ref string) (store.Account, error) {
	if ref == "" {
		as, err := a.st.Accounts(ctx)
		if err != nil {
			return store.Account{}, err
		}
		switch len(as) {
		case 0:
			return store.Account{}, errors.New("no account yet: run admin init first")
		case 1:
			return as[0], nil
		}
		return store.Account{}, fmt.Errorf("%d accounts exist: name one with --account", len(as))
	}
	acct, err := a.st.Account(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		acct, err = a.st.AccountByName(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, fmt.Errorf("no account %q", ref)
	}
	return acct, err
}

// PackageSpec describes a deployment package to create.
type PackageSpec struct {
	Account     string // id or name; "" for the only account
	Name        string
	Description string
	Pending     bool // new devices wait for approval
	MaxDevices  int  // 0: unlimited
	ValidFrom   time.Time
	ValidTo     time.Time
	LicenseKey  string // applied to the Hosts; "" trial (spec 4.5.1)
	DeviceGroup string // id of the device group new devices join

	actor, remote string // who asked, for the audit log (API requests)
}

// CreatePackage creates a deployment package and returns it with its
// enrollment key, which is shown once and stored only as a hash.
func (a *Admin) CreatePackage(ctx context.Context, spec PackageSpec) (store.Package, string, error) {
	if err := checkName(spec.Name); err != nil {
		return store.Package{}, "", fmt.Errorf("package name: %w", err)
	}
	if !validText(spec.Description, 1024) {
		return store.Package{}, "", errors.New("package description: at most 1024 bytes, no control characters")
	}
	if spec.MaxDevices < 0 {
		return store.Package{}, "", errors.New("max devices must be 0 (unlimited) or more")
	}
	if !spec.ValidFrom.IsZero() && !spec.ValidTo.IsZero() && !spec.ValidTo.After(spec.ValidFrom) {
		return store.Package{}, "", errors.New("valid-to must be after valid-from")
	}
	acct, err := a.ResolveAccount(ctx, spec.Account)
	if err != nil {
		return store.Package{}, "", err
	}
	state := store.Enrolled
	if spec.Pending {
		state = store.Pending
	}
	key, hash := secret.NewEnrollmentKey()
	var p store.Package
	err = a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		var err error
		p, err = tx.CreatePackage(ctx, store.Package{
			AccountID: acct.ID, Name: spec.Name, Description: spec.Description, KeyHash: hash, EnrollmentState: state,
			Active: true, ValidFrom: spec.ValidFrom, ValidTo: spec.ValidTo, MaxDevices: spec.MaxDevices, CreatedAt: a.now(),
			LicenseKey: spec.LicenseKey, DeviceGroup: spec.DeviceGroup,
		})
		audit(auditRec{Event: EvPackageCreated, Account: acct.ID, User: spec.actor, Remote: spec.remote,
			Detail: map[string]any{"package": p.ID, "name": p.Name}})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Package{}, "", fmt.Errorf("account %s already has a package named %q", acct.Name, spec.Name)
	} else if err != nil {
		return store.Package{}, "", err
	}
	return p, key, nil
}

// Packages lists the packages of an account (id or name; "" for all).
func (a *Admin) Packages(ctx context.Context, account string) ([]store.Package, error) {
	id := ""
	if account != "" {
		acct, err := a.ResolveAccount(ctx, account)
		if err != nil {
			return nil, err
		}
		id = acct.ID
	}
	return a.st.Packages(ctx, id)
}

// Devices lists the devices of an account (id or name; "" for all).
func (a *Admin) Devices(ctx context.Context, account string) ([]store.Device, error) {
	if account == "" {
		return a.st.Devices(ctx, nil)
	}
	acct, err := a.ResolveAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	return a.st.Devices(ctx, []string{acct.ID})
}

func (a *Admin) device(ctx context.Context, id string) (store.Device, error) {
	d, err := a.st.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, fmt.Errorf("no device %q (see device list)", id)
	}
	return d, err
}

// EnrollDevice approves a pending device. changed is false when it was
// already enrolled; a revoked device cannot come back.
func (a *Admin) EnrollDevice(ctx context.Context, id string) (d store.Device, changed bool, err error) {
	d, err = a.device(ctx, id)
	if err != nil {
		return d, false, err
	}
	switch d.State {
	case store.Enrolled:
		return d, false, nil
	case store.Revoked:
		return d, false, errors.New("the device is revoked; reinstall the host to enroll it again")
	}
	if err := a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvDeviceApproved, Account: d.AccountID, Device: d.ID})
		return tx.SetDeviceState(ctx, d.ID, store.Enrolled)
	}); err != nil {
		return d, false, err
	}
	d.State = store.Enrolled
	return d, true, nil
}

// RevokeDevice revokes a device: it can no longer connect or be
// controlled. changed is false when it was already revoked.
func (a *Admin) RevokeDevice(ctx context.Context, id string) (d store.Device, changed bool, err error) {
	d, err = a.device(ctx, id)
	if err != nil {
		return d, false, err
	}
	if d.State == store.Revoked {
		return d, false, nil
	}
	if err := a.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvDeviceRevoked, Account: d.AccountID, Device: d.ID})
		return tx.SetDeviceState(ctx, d.ID, store.Revoked)
	}); err != nil {
		return d, false, err
	}
	d.State = store.Revoked
	a.kick(d.ID)
	return d, true, nil
}
