// Package store is the relay's database: accounts, users, deployment
// packages, devices, remote sessions and the audit log.
//
// The default engine is SQLite through modernc.org/sqlite (pure Go, one
// file, WAL); a postgres:// URL selects PostgreSQL through pgx (pure Go
// too). Both run the same SQL and the same migrations ($n placeholders,
// standard types); what cannot be said the same way on both is in engine.
//
// No secret is stored here in a usable form: enrollment keys and login
// tokens are SHA-256 hashes, passwords are argon2id hashes (see relay/secret).
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers branch on.
var (
	ErrNotFound     = errors.New("store: not found")
	ErrConflict     = errors.New("store: conflict")
	ErrRevoked      = errors.New("store: device revoked")
	ErrSchemaTooNew = errors.New("store: schema too new")
)

// Store is a handle on the database; safe for concurrent use. The Store
// WithTx hands out is bound to one transaction instead.
type Store struct {
	db    *sql.DB
	q     querier // db, or the transaction
	sqlTx *sql.Tx // set in a Store bound to a transaction
	eng   *engine
	now   func() time.Time
	// onCount, when set (tests), is called each time an enrollment counts
	// its package's devices.
	onCount func()
}

// querier is what *sql.DB and *sql.Tx both do.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// IsPostgres reports whether db (a --db value) names a PostgreSQL database
// (postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// Open opens the database db and applies pending migrations: a
// postgres:// or postgresql:// URL is PostgreSQL, anything else the path of
// a SQLite file (created if needed).
func Open(ctx context.Context, db string) (*Store, error) {
	if IsPostgres(db) {
		return openPostgres(ctx, db)
	}
	return openSQLite(ctx, db)
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: invalid database path %q", path)
	}
	// Create the file ourselves so it is private from the start; SQLite
	// gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f.Close()
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := pingSQLite(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return start(ctx, db, sqliteEngine, path)
}

// pingSQLite opens the first connection. Its journal_mode(WAL) pragma can
// fail with SQLITE_BUSY at once, without waiting out busy_timeout, while
// another process (a second relay, the admin command) is setting up the
// same new file; so that one case is retried, for as long as busy_timeout.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func openPostgres(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The message can quote the URL, password included: keep it out.
		return nil, errors.New("store: invalid PostgreSQL URL")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return start(ctx, db, postgresEngine, redact(cfg))
}

// redact names a PostgreSQL database for messages, without the password.
func redact(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

func start(ctx context.Context, db *sql.DB, eng *engine, name string) (*Store, error) {
	s := &Store{db: db, q: db, eng: eng, now: time.Now}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database (not for a Store bound to a transaction).
// Ping checks that the database answers (the relay's readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *Store) Close() error {
	if s.sqlTx != nil {
		return errors.New("store: close inside a transaction")
	}
	return s.db.Close()
}

// Engine is "sqlite" or "postgres".
func (s *Store) Engine() string { return s.eng.name }

// WithTx runs fn with a Store bound to one transaction: whatever fn writes
// through it (a change and its audit events) commits when fn returns nil,
// and none of it otherwise. Inside, use only tx: on SQLite a write through
// another Store would wait for this transaction's lock. Nested calls join
// the outer transaction.
func (s *Store) WithTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.sqlTx != nil {
		return fn(s)
	}
	return s.tx(ctx, func(t *sql.Tx) error {
		return fn(&Store{db: s.db, q: t, sqlTx: t, eng: s.eng, now: s.now, onCount: s.onCount})
	})
}

// InTx reports whether s is bound to a transaction.
func (s *Store) InTx() bool { return s.sqlTx != nil }

// tx runs fn in a transaction, committing when it returns nil; in a Store
// bound to one, fn joins it.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.sqlTx != nil {
		return fn(s.sqlTx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// --- what differs between the engines: all of it is here ------------------------

// engine holds the few things the SQL cannot say the same way on both.
type engine struct {
	name string
	// forUpdate ends a SELECT that must lock the rows it reads until the
	// transaction ends. SQLite's transactions take the write lock at BEGIN
	// (_txlock=immediate), so it needs nothing.
	forUpdate string
	// lock serialises migrations across processes; it returns the unlock.
	// SQLite needs none: its immediate transactions already exclude each
	// other and each migration re-checks schema_version inside its own.
	lock     func(ctx context.Context, db *sql.DB) (unlock func(), err error)
	isUnique func(error) bool
	// jsonElems is a FROM item (a format taking a column holding a JSON
	// array of strings) listing the array's elements as je.value.
	jsonElems string
}

var sqliteEngine = &engine{
	name:      "sqlite",
	jsonElems: "json_each(%s) AS je",
	lock:      func(context.Context, *sql.DB) (func(), error) { return func() {}, nil },
	isUnique: func(err error) bool {
		var se *sqlite.Error
		if errors.As(err, &se) {
			return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		}
		return false
	},
}

// migrateLockKey is the PostgreSQL advisory lock relay nodes hold while
// migrating ("tandem" in ASCII).
const migrateLockKey = 0x74616e64656d

var postgresEngine = &engine{
	name:      "postgres",
	forUpdate: " FOR UPDATE",
	jsonElems: "jsonb_array_elements_text((%s)::jsonb) AS je(value)",
	lock: func(ctx context.Context, db *sql.DB) (func(), error) {
		// A session lock, held on one dedicated connection: it is released
		// by the unlock or, should this process die, by the server when
		// the connection drops.
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
			conn.Close()
			return nil, err
		}
		return func() {
			conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey))
			conn.Close()
		}, nil
	},
	isUnique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
	},
}

func wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	case sqliteEngine.isUnique(err) || postgresEngine.isUnique(err):
		return fmt.Errorf("store: %s: %w", what, ErrConflict)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// NewID returns a new time-ordered UUID (v7) string.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// --- time helpers: unix seconds, NULL for the zero time -----------------------

func unix(t time.Time) int64 { return t.Unix() }

func nullUnix(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func fromUnix(v int64) time.Time { return time.Unix(v, 0).UTC() }

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromUnix(v.Int64)
}

// placeholders returns "$start, $start+1, ..." for n arguments.
func placeholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", start+i)
	}
	return b.String()
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// --- accounts -------------------------------------------------------------------

// Account is a tenant: its users, packages and devices.
type Account struct {
	ID           string
	Name         string
	CreatedAt    time.Time
	MFA          MFAMode // email MFA setting (spec 5.1); "disabled" by default
	AuditEnabled bool    // events of the account are logged (default true)
}

// CreateAccount inserts a account; a taken name is ErrConflict.
func (s *Store) CreateAccount(ctx context.Context, a Account) (Account, error) {
	if a.ID == "" {
		a.ID = NewID()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)`,
		a.ID, a.Name, unix(a.CreatedAt))
	a.AuditEnabled = true
	return a, wrap("create account", err)
}

const accountCols = `id, name, created_at, mfa, audit_enabled`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created int64
	err := row.Scan(&a.ID, &a.Name, &created, &a.MFA, &a.AuditEnabled)
	a.CreatedAt = fromUnix(created)
	return a, err
}

// Account returns the account with id.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	return a, wrap("account", err)
}

// AccountByName returns the account named name.
func (s *Store) AccountByName(ctx context.Context, name string) (Account, error) {
	a, err := scanAccount(s.q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE name = $1`, name))
	return a, wrap("account by name", err)
}

// Accounts lists all accounts by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, wrap("accounts", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, wrap("accounts", err)
		}
		out = append(out, a)
	}
	return out, wrap("accounts", rows.Err())
}

// SetAccountAudit turns an account's audit logging on or off.
func (s *Store) SetAccountAudit(ctx context.Context, id string, enabled bool) error {
	return s.execOne(ctx, "set account audit", `UPDATE accounts SET audit_enabled = $1 WHERE id = $2`, enabled, id)
}

// --- users and memberships ----------------------------------------------------------

// User is a person who logs in to the relay. Email is stored as given by
// the caller (the relay lower-cases it).
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string // argon2id, PHC string
	Disabled     bool
	CreatedAt    time.Time
	Auth         string    // "internal" (password here); "ldap" later: no password reset
	FailedLogins int       // consecutive failed logins (password or MFA code)
	LockedUntil  time.Time // zero: not locked
}

// CreateUser inserts a user; a taken email is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	if u.Auth == "" {
		u.Auth = AuthInternal
	}
	_, err := s.q.ExecContext(ctx,
		`INSERT INTO users (id, email, name, password_hash, disabled, created_at, auth) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, u.Name, u.PasswordHash, u.Disabled, unix(u.CreatedAt), u.Auth)
	return u, wrap("create user", err)
}

const userCols = `id, email, name, password_hash, disabled, created_at, auth, failed_logins, locked_until`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	var locked sql.NullInt64
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Disabled, &created, &u.Auth, &u.FailedLogins, &locked)
	u.CreatedAt, u.LockedUntil = fromUnix(created), fromNull(locked)
	return u, err
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	return u, wrap("user", err)
}

// UserByEmail returns the user with this (exact) email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, email))
	return u, wrap("user by email", err)
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	return s.execOne(ctx, "set password", `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
}

// --- login tokens -------------------------------------------------------------------

// LoginToken is a bearer token, known here only by its hash.
type LoginToken struct {
	Hash      string // hex SHA-256 of the token
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateLoginToken stores a token hash.
func (s *Store) CreateLoginToken(ctx context.Context, t LoginToken) error {
	_, err := s.q.ExecContext(ctx,
		`INSERT INTO login_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.UserID, unix(t.CreatedAt), unix(t.ExpiresAt))
	return wrap("create login token", err)
}

// LoginToken returns the token with this hash (expired ones too: the
// caller checks ExpiresAt against its clock).
func (s *Store) LoginToken(ctx context.Context, hash string) (LoginToken, error) {
	var t LoginToken
	var created, expires int64
	err := s.q.QueryRowContext(ctx,
		`SELECT token_hash, user_id, created_at, expires_at FROM login_tokens WHERE token_hash = $1`, hash).
		Scan(&t.Hash, &t.UserID, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
	return t, wrap("login token", err)
}

// DeleteLoginToken removes a token (logout); a missing one is not an error.
func (s *Store) DeleteLoginToken(ctx context.Context, hash string) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM login_tokens WHERE token_hash = $1`, hash)
	return wrap("delete login token", err)
}

// DeleteExpiredLoginTokens removes tokens expired at now.
func (s *Store) DeleteExpiredLoginTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM login_tokens WHERE expires_at <= $1`, unix(now))
	if err != nil {
		return 0, wrap("delete expired login tokens", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// --- deployment packages ------------------------------------------------------------

// DeviceState is a device's enrollment state.
type DeviceState string

const (
	Enrolled DeviceState = "enrolled"
	Pending  DeviceState = "pending"
	Revoked  DeviceState = "revoked"
)

// Package is a deployment package: an enrollment key (known by its hash)
// and the rules for devices enrolling with it.
type Package struct {
	ID              string
	AccountID       string
	Name            string
	Description     string
	KeyHash         string
	EnrollmentState DeviceState // state of new devices: Enrolled or Pending
	Active          bool
	ValidFrom       time.Time // zero: no start
	ValidTo         time.Time // zero: no end
	MaxDevices      int       // 0: unlimited
	CreatedAt       time.Time
	Revoked         bool   // its devices were revoked; it enrolls no more
	LicenseKey      string // applied to its Hosts (spec 4.5.1)
	DeviceGroup     string // device group new devices join; "" none

	Devices int // devices enrolled with it and not revoked (filled by Packages)
}

// CreatePackage inserts a package; a taken name in the account or key hash
// is ErrConflict.
func (s *Store) CreatePackage(ctx context.Context, p Package) (Package, error) {
	if p.ID == "" {
		p.ID = NewID()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	if p.EnrollmentState != Enrolled && p.EnrollmentState != Pending {
		return p, fmt.Errorf("store: invalid enrollment state %q", p.EnrollmentState)
	}
	var maxDev sql.NullInt64
	if p.MaxDevices > 0 {
		maxDev = sql.NullInt64{Int64: int64(p.MaxDevices), Valid: true}
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO deployment_packages
		(id, account_id, name, description, key_hash, enrollment_state, active, valid_from, valid_to, max_devices, created_at,
		license_key, device_group)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		p.ID, p.AccountID, p.Name, p.Description, p.KeyHash, string(p.EnrollmentState), p.Active,
		nullUnix(p.ValidFrom), nullUnix(p.ValidTo), maxDev, unix(p.CreatedAt), p.LicenseKey, p.DeviceGroup)
	return p, wrap("create package", err)
}

const packageCols = `p.id, p.account_id, p.name, p.description, p.key_hash, p.enrollment_state, p.active,
	p.valid_from, p.valid_to, p.max_devices, p.created_at, p.revoked, p.license_key, p.device_group`

func scanPackage(row interface{ Scan(...any) error }, extra ...any) (Package, error) {
	var p Package
	var from, to, maxDev sql.NullInt64
	var created int64
	dest := append([]any{&p.ID, &p.AccountID, &p.Name, &p.Description, &p.KeyHash, &p.EnrollmentState, &p.Active,
		&from, &to, &maxDev, &created, &p.Revoked, &p.LicenseKey, &p.DeviceGroup}, extra...)
	err := row.Scan(dest...)
	p.ValidFrom, p.ValidTo, p.CreatedAt = fromNull(from), fromNull(to), fromUnix(created)
	p.MaxDevices = int(maxDev.Int64)
	return p, err
}

// Package returns the package with id.
func (s *Store) Package(ctx context.Context, id string) (Package, error) {
	p, err := scanPackage(s.q.QueryRowContext(ctx, `SELECT `+packageCols+` FROM deployment_packages p WHERE p.id = $1`, id))
	return p, wrap("package", err)
}

// Packages lists the packages of accountID ("" for all) with their device
// counts, by account and name.
func (s *Store) Packages(ctx context.Context, accountID string) ([]Package, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+packageCols+`,
		(SELECT COUNT(*) FROM devices d WHERE d.package_id = p.id AND d.state <> 'revoked')
		FROM deployment_packages p WHERE ($1 = '' OR p.account_id = $1) ORDER BY p.account_id, p.name`, accountID)
	if err != nil {
		return nil, wrap("packages", err)
	}
	return scanPackagesCounted("packages", rows)
}

// scanPackagesCounted reads packages, each followed by its device count.
func scanPackagesCounted(op string, rows *sql.Rows) ([]Package, error) {
	defer rows.Close()
	var out []Package
	for rows.Next() {
		var n int
		p, err := scanPackage(rows, &n)
		if err != nil {
			return nil, wrap(op, err)
		}
		p.Devices = n
		out = append(out, p)
	}
	return out, wrap(op, rows.Err())
}

// PackageByKeyHash returns the package whose enrollment key hashes to
// hash, with its count of devices not revoked.
func (s *Store) PackageByKeyHash(ctx context.Context, hash string) (Package, error) {
	var n int
	p, err := scanPackage(s.q.QueryRowContext(ctx, `SELECT `+packageCols+`,
		(SELECT COUNT(*) FROM devices d WHERE d.package_id = p.id AND d.state <> 'revoked')
		FROM deployment_packages p WHERE p.key_hash = $1`, hash), &n)
	p.Devices = n
	return p, wrap("package by key", err)
}

// SetPackageActive enables or disables enrollment with a package.
func (s *Store) SetPackageActive(ctx context.Context, id string, active bool) error {
	return s.execOne(ctx, "set package active", `UPDATE deployment_packages SET active = $1 WHERE id = $2`, active, id)
}

// --- devices -------------------------------------------------------------------------

// Device is an enrolled (or pending, or revoked) machine.
type Device struct {
	ID           string
	AccountID    string
	PackageID    string // "" when the package was removed
	PublicKey    string // base64 (std) Ed25519 public key
	State        DeviceState
	Hostname     string
	Alias        string
	Description  string
	OS           string
	Arch         string
	Version      string
	LoggedInUser string
	Monitors     json.RawMessage // JSON array, "[]" when unknown
	EnrolledAt   time.Time
	LastSeen     time.Time // zero: never connected
	// OnDemand marks the ephemeral identity of an OnDemand agent: never
	// listed, counted or offered for device sessions.
	OnDemand bool
}

// Name is the alias, or the hostname without one.
func (d *Device) Name() string {
	if d.Alias != "" {
		return d.Alias
	}
	return d.Hostname
}

// Inventory is what a device reports about itself.
type Inventory struct {
	Hostname     string
	OS           string
	Arch         string
	Version      string
	LoggedInUser string
	Monitors     json.RawMessage // JSON array; nil keeps "[]"
}

func monitorsJSON(m json.RawMessage) string {
	if len(m) == 0 {
		return "[]"
	}
	return string(m)
}

const deviceCols = `d.id, d.account_id, d.package_id, d.public_key, d.state, d.hostname, d.alias, d.os, d.arch,
	d.version, d.logged_in_user, d.monitors, d.enrolled_at, d.last_seen, d.description, d.ondemand`

func scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var pkg sql.NullString
	var monitors string
	var enrolled int64
	var seen sql.NullInt64
	err := row.Scan(&d.ID, &d.AccountID, &pkg, &d.PublicKey, &d.State, &d.Hostname, &d.Alias, &d.OS, &d.Arch,
		&d.Version, &d.LoggedInUser, &monitors, &enrolled, &seen, &d.Description, &d.OnDemand)
	d.PackageID = pkg.String
	d.Monitors = json.RawMessage(monitors)
	d.EnrolledAt, d.LastSeen = fromUnix(enrolled), fromNull(seen)
	return d, err
}

func (s *Store) queryDevices(ctx context.Context, what, q string, args ...any) ([]Device, error) {
	rows, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(what, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, wrap(what, err)
		}
		out = append(out, d)
	}
	return out, wrap(what, rows.Err())
}

// Device returns the device with id.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1`, id))
	return d, wrap("device", err)
}

// Devices lists the devices of the given accounts (all accounts when
// accountIDs is nil) by hostname; OnDemand agents' ephemeral devices are
// not devices of the account and never listed.
func (s *Store) Devices(ctx context.Context, accountIDs []string) ([]Device, error) {
	if accountIDs == nil {
		return s.queryDevices(ctx, "devices", `SELECT `+deviceCols+` FROM devices d WHERE NOT d.ondemand ORDER BY d.hostname, d.id`)
	}
	if len(accountIDs) == 0 {
		return nil, nil
	}
	return s.queryDevices(ctx, "devices", `SELECT `+deviceCols+` FROM devices d
		WHERE NOT d.ondemand AND d.account_id IN (`+placeholders(1, len(accountIDs))+`) ORDER BY d.hostname, d.id`, anySlice(accountIDs)...)
}

// DevicesByHostname returns the devices of the given accounts whose
// hostname is host (ASCII case-insensitive).
func (s *Store) DevicesByHostname(ctx context.Context, accountIDs []string, host string) ([]Device, error) {
	if len(accountIDs) == 0 {
		return nil, nil
	}
	args := append([]any{host}, anySlice(accountIDs)...)
	return s.queryDevices(ctx, "devices by hostname", `SELECT `+deviceCols+` FROM devices d
		WHERE NOT d.ondemand AND LOWER(d.hostname) = LOWER($1) AND d.account_id IN (`+placeholders(2, len(accountIDs))+`)
		ORDER BY d.enrolled_at, d.id`, args...)
}

// EnrollParams describes an enrollment attempt.
type EnrollParams struct {
	KeyHash   string // hash of the presented enrollment key
	PublicKey string // canonical base64 of the device's Ed25519 key
	Inventory Inventory
	Now       time.Time
	// Check runs inside the transaction before a new device is created,
	// with the package and its count of devices not revoked, counted only
	// when the package has a device limit (0 otherwise) and then only up
	// to that limit, so enrollment costs the same at any size. An error
	// aborts the enrollment and is returned unchanged. Re-enrollments of a
	// known key do not call it.
	Check func(p Package, devices int) error
}

// EnrollResult is the device an enrollment produced or found again.
type EnrollResult struct {
	Device  Device
	Package Package
	Created bool // false: this public key was already enrolled
}

// Enroll creates a device for the package whose key hash matches, or
// returns the device already enrolled with the same public key. No package
// is ErrNotFound; a revoked device with this key is ErrRevoked; the key
// enrolled in another account is ErrConflict.
func (s *Store) Enroll(ctx context.Context, p EnrollParams) (EnrollResult, error) {
	var res EnrollResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Locking the package row makes enrollments with one package take
		// turns, so its device limit holds on PostgreSQL too.
		pkg, err := scanPackage(tx.QueryRowContext(ctx,
			`SELECT `+packageCols+` FROM deployment_packages p WHERE p.key_hash = $1`+s.eng.forUpdate, p.KeyHash))
		if err != nil {
			return wrap("enroll: package", err)
		}
		res.Package = pkg
		d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.public_key = $1`, p.PublicKey))
		switch {
		case err == nil:
			if d.OnDemand {
				return fmt.Errorf("store: enroll: key of an OnDemand agent: %w", ErrConflict)
			}
			if d.State == Revoked {
				return fmt.Errorf("store: enroll: %w", ErrRevoked)
			}
			if d.AccountID != pkg.AccountID {
				return fmt.Errorf("store: enroll: key enrolled in another account: %w", ErrConflict)
			}
			res.Device = d
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return wrap("enroll: device", err)
		}
		var n int
		if pkg.MaxDevices > 0 {
			if s.onCount != nil {
				s.onCount()
			}
			// The package row's lock (or SQLite's write lock) keeps the count
			// and the insert below together: no over-enrollment.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM devices
				WHERE package_id = $1 AND state <> 'revoked' LIMIT $2) AS d`, pkg.ID, pkg.MaxDevices).Scan(&n); err != nil {
				return wrap("enroll: count", err)
			}
		}
		if p.Check != nil {
			if err := p.Check(pkg, n); err != nil {
				return err
			}
		}
		inv := p.Inventory
		d = Device{
			ID: NewID(), AccountID: pkg.AccountID, PackageID: pkg.ID, PublicKey: p.PublicKey,
			State: pkg.EnrollmentState, Hostname: inv.Hostname, OS: inv.OS, Arch: inv.Arch, Version: inv.Version,
			LoggedInUser: inv.LoggedInUser, Monitors: json.RawMessage(monitorsJSON(inv.Monitors)), EnrolledAt: p.Now,
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, account_id, package_id, public_key, state, hostname,
			os, arch, version, logged_in_user, monitors, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			d.ID, d.AccountID, d.PackageID, d.PublicKey, string(d.State), d.Hostname, d.OS, d.Arch, d.Version,
			d.LoggedInUser, string(d.Monitors), unix(d.EnrolledAt))
		if err != nil {
			return wrap("enroll: insert", err)
		}
		if pkg.DeviceGroup != "" {
			// "Move to device group" (spec 4.5.1); a group removed since is skipped.
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_group_members (group_id, member_id)
				SELECT id, $1 FROM access_groups WHERE id = $2 AND account_id = $3 AND kind = 'device'
				ON CONFLICT DO NOTHING`, d.ID, pkg.DeviceGroup, pkg.AccountID); err != nil {
				return wrap("enroll: device group", err)
			}
		}
		d.EnrolledAt = fromUnix(unix(d.EnrolledAt))
		res.Device, res.Created = d, true
		return nil
	})
	return res, err
}

// DeviceStates returns the state of each listed device that exists.
func (s *Store) DeviceStates(ctx context.Context, ids []string) (map[string]DeviceState, error) {
	out := make(map[string]DeviceState, len(ids))
	const chunk = 500
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		rows, err := s.q.QueryContext(ctx, `SELECT id, state FROM devices WHERE id IN (`+placeholders(1, n)+`)`,
			anySlice(ids[:n])...)
		if err != nil {
			return nil, wrap("device states", err)
		}
		for rows.Next() {
			var id string
			var st DeviceState
			if err := rows.Scan(&id, &st); err != nil {
				rows.Close()
				return nil, wrap("device states", err)
			}
			out[id] = st
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap("device states", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// UpdateInventory records what a connected device reported and when.
func (s *Store) UpdateInventory(ctx context.Context, id string, inv Inventory, now time.Time) error {
	return s.execOne(ctx, "update inventory", `UPDATE devices SET hostname = $1, os = $2, arch = $3, version = $4,
		logged_in_user = $5, monitors = $6, last_seen = $7 WHERE id = $8`,
		inv.Hostname, inv.OS, inv.Arch, inv.Version, inv.LoggedInUser, monitorsJSON(inv.Monitors), unix(now), id)
}

// TouchDevice sets last_seen.
func (s *Store) TouchDevice(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, "touch device", `UPDATE devices SET last_seen = $1 WHERE id = $2`, unix(now), id)
}

// SetDeviceState changes a device's state.
func (s *Store) SetDeviceState(ctx context.Context, id string, state DeviceState) error {
	switch state {
	case Enrolled, Pending, Revoked:
	default:
		return fmt.Errorf("store: invalid device state %q", state)
	}
	return s.execOne(ctx, "set device state", `UPDATE devices SET state = $1 WHERE id = $2`, string(state), id)
}

// SetDeviceAlias changes a device's display name ("" clears it).
func (s *Store) SetDeviceAlias(ctx context.Context, id, alias string) error {
	return s.execOne(ctx, "set device alias", `UPDATE devices SET alias = $1 WHERE id = $2`, alias, id)
}

func (s *Store) execOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return wrap(what, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// --- remote sessions ------------------------------------------------------------------

// Session is one remote session request and its life.
type Session struct {
	ID          string
	AccountID   string
	UserID      string
	DeviceID    string
	Action      string
	Permissions []string
	CreatedAt   time.Time
	ExpiresAt   time.Time // the guest must connect before this
	StartedAt   time.Time // zero: not started
	EndedAt     time.Time // zero: not ended
	EndReason   string
}

// CreateSession inserts a session.
func (s *Store) CreateSession(ctx context.Context, se Session) (Session, error) {
	if se.ID == "" {
		se.ID = NewID()
	}
	perms, err := json.Marshal(se.Permissions)
	if err != nil {
		return se, err
	}
	if se.Permissions == nil {
		perms = []byte("[]")
	}
	_, err = s.q.ExecContext(ctx, `INSERT INTO remote_sessions
		(id, account_id, user_id, device_id, action, permissions, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		se.ID, se.AccountID, se.UserID, se.DeviceID, se.Action, string(perms), unix(se.CreatedAt), unix(se.ExpiresAt))
	return se, wrap("create session", err)
}

const sessionCols = `id, account_id, user_id, device_id, action, permissions, created_at, expires_at,
	started_at, ended_at, end_reason`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var se Session
	var perms string
	var created, expires int64
	var started, ended sql.NullInt64
	err := row.Scan(&se.ID, &se.AccountID, &se.UserID, &se.DeviceID, &se.Action, &perms, &created, &expires,
		&started, &ended, &se.EndReason)
	if err != nil {
		return se, err
	}
	if err := json.Unmarshal([]byte(perms), &se.Permissions); err != nil {
		return se, fmt.Errorf("permissions column: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = fromUnix(created), fromUnix(expires)
	se.StartedAt, se.EndedAt = fromNull(started), fromNull(ended)
	return se, nil
}

// Session returns the session with id.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	se, err := scanSession(s.q.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM remote_sessions WHERE id = $1`, id))
	return se, wrap("session", err)
}

// SessionFilter selects sessions; empty fields match all.
type SessionFilter struct {
	DeviceID string
	UserID   string
	OpenOnly bool // not ended
	Limit    int  // 0: 100
}

// Sessions lists sessions, newest first.
func (s *Store) Sessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+sessionCols+` FROM remote_sessions
		WHERE ($1 = '' OR device_id = $1) AND ($2 = '' OR user_id = $2) AND ($3 = FALSE OR ended_at IS NULL)
		ORDER BY created_at DESC, id DESC LIMIT $4`, f.DeviceID, f.UserID, f.OpenOnly, f.Limit)
	if err != nil {
		return nil, wrap("sessions", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		se, err := scanSession(rows)
		if err != nil {
			return nil, wrap("sessions", err)
		}
		out = append(out, se)
	}
	return out, wrap("sessions", rows.Err())
}

// StartSession records the start of a session; it reports false when the
// session was already started or has ended.
func (s *Store) StartSession(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE remote_sessions SET started_at = $1
		WHERE id = $2 AND started_at IS NULL AND ended_at IS NULL`, unix(at), id)
	if err != nil {
		return false, wrap("start session", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// EndSession records the end of a session; it reports false when the
// session had already ended.
func (s *Store) EndSession(ctx context.Context, id string, at time.Time, reason string) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE remote_sessions SET ended_at = $1, end_reason = $2
		WHERE id = $3 AND ended_at IS NULL`, unix(at), reason, id)
	if err != nil {
		return false, wrap("end session", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// EndOpenSessions ends every session still open (a relay restarting cannot
// resume them) and returns how many it ended.
func (s *Store) EndOpenSessions(ctx context.Context, at time.Time, reason string) (int64, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE remote_sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL`,
		unix(at), reason)
	if err != nil {
		return 0, wrap("end open sessions", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// --- audit -----------------------------------------------------------------------------

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	ID            string
	At            time.Time // stored with millisecond precision
	AccountID     string
	ActorUserID   string
	ActorDeviceID string
	Event         string          // e.g. "device.enrolled", "session.started"
	Detail        json.RawMessage // JSON object
	RemoteAddr    string
	Subject       string // what it created or changed ("user:ID"), for Authors; "" for most
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// AddAudit appends an event unless its account has turned logging off
// (checked in the same statement, so every relay node agrees at once);
// force records it regardless (turning logging off is itself logged).
func (s *Store) AddAudit(ctx context.Context, e AuditEvent, force ...bool) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	detail := "{}"
	if len(e.Detail) > 0 {
		detail = string(e.Detail)
	}
	always := len(force) > 0 && force[0]
	_, err := s.q.ExecContext(ctx, `INSERT INTO audit_events
		(id, at_ms, account_id, actor_user_id, actor_device_id, event, detail, remote_addr, subject)
		SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT),
			CAST($6 AS TEXT), CAST($7 AS TEXT), CAST($8 AS TEXT), CAST($10 AS TEXT)
		WHERE $9 OR $3 IS NULL OR NOT EXISTS (SELECT 1 FROM accounts WHERE id = $3 AND NOT audit_enabled)`,
		e.ID, e.At.UnixMilli(), nullString(e.AccountID), nullString(e.ActorUserID), nullString(e.ActorDeviceID),
		e.Event, detail, e.RemoteAddr, always, e.Subject)
	return wrap("add audit", err)
}

// AuditFilter selects audit events; empty fields match all.
type AuditFilter struct {
	AccountID string
	Event     string
	DeviceID  string
	UserID    string    // events this user did
	From, To  time.Time // From ≤ At < To; zero: unbounded
	Limit     int       // 0: 100
}

func (f AuditFilter) where() (string, []any) {
	to := int64(math.MaxInt64)
	if !f.To.IsZero() {
		to = f.To.UnixMilli()
	}
	return `($1 = '' OR e.account_id = $1) AND ($2 = '' OR e.event = $2) AND ($3 = '' OR e.actor_device_id = $3)
		AND ($4 = '' OR e.actor_user_id = $4) AND e.at_ms >= $5 AND e.at_ms < $6`,
		[]any{f.AccountID, f.Event, f.DeviceID, f.UserID, f.From.UnixMilli(), to}
}

const auditCols = `e.id, e.at_ms, e.account_id, e.actor_user_id, e.actor_device_id, e.event, e.detail, e.remote_addr`

func scanAudit(row interface{ Scan(...any) error }, extra ...any) (AuditEvent, error) {
	var e AuditEvent
	var at int64
	var acct, user, dev sql.NullString
	var detail string
	err := row.Scan(append([]any{&e.ID, &at, &acct, &user, &dev, &e.Event, &detail, &e.RemoteAddr}, extra...)...)
	e.At = time.UnixMilli(at).UTC()
	e.AccountID, e.ActorUserID, e.ActorDeviceID = acct.String, user.String, dev.String
	e.Detail = json.RawMessage(detail)
	return e, err
}

// Audit lists events, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	where, args := f.where()
	rows, err := s.q.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_events e WHERE `+where+`
		ORDER BY e.at_ms DESC, e.id DESC LIMIT $7`, append(args, f.Limit)...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, wrap("audit", err)
		}
		out = append(out, e)
	}
	return out, wrap("audit", rows.Err())
}

// AuditLine is an event with the names of who did it, for reports.
type AuditLine struct {
	AuditEvent
	UserEmail string // "" if the user is gone or none acted
	Device    string // alias or hostname
}

// AuditEach calls fn for the events f selects, oldest first (Limit is
// ignored), with names resolved; it stops at fn's first error.
func (s *Store) AuditEach(ctx context.Context, f AuditFilter, fn func(AuditLine) error) error {
	where, args := f.where()
	rows, err := s.q.QueryContext(ctx, `SELECT `+auditCols+`, COALESCE(u.email, ''), COALESCE(NULLIF(d.alias, ''), d.hostname, '')
		FROM audit_events e
		LEFT JOIN users u ON u.id = e.actor_user_id
		LEFT JOIN devices d ON d.id = e.actor_device_id
		WHERE `+where+` ORDER BY e.at_ms, e.id`, args...)
	if err != nil {
		return wrap("audit each", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l AuditLine
		if l.AuditEvent, err = scanAudit(rows, &l.UserEmail, &l.Device); err != nil {
			return wrap("audit each", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return wrap("audit each", rows.Err())
}

// pruneBatch is how many events one DELETE of PruneAudit removes.
var pruneBatch = 5000

// PruneAudit deletes events and reports older than before, in batches so
// neither engine holds its write lock for long; it returns how many
// events went.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	batch := pruneBatch
	var total int64
	for {
		res, err := s.q.ExecContext(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE at_ms < $1 LIMIT $2)`, before.UnixMilli(), batch)
		if err != nil {
			return total, wrap("prune audit", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(batch) {
			break
		}
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM audit_reports WHERE created_at < $1`, unix(before))
	return total, wrap("prune audit reports", err)
}

// AuditReport is a generated CSV report of an account's events.
type AuditReport struct {
	ID        string
	AccountID string
	CreatedBy string // user id
	From, To  time.Time
	Events    int
	CreatedAt time.Time
	CSV       string // filled by AuditReport only
}

// CreateAuditReport stores a report.
func (s *Store) CreateAuditReport(ctx context.Context, r AuditReport) (AuditReport, error) {
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO audit_reports (id, account_id, created_by, from_ms, to_ms, events, created_at, csv)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.ID, r.AccountID, r.CreatedBy, r.From.UnixMilli(), r.To.UnixMilli(), r.Events, unix(r.CreatedAt), r.CSV)
	return r, wrap("create audit report", err)
}

const reportCols = `id, account_id, created_by, from_ms, to_ms, events, created_at`

func scanReport(row interface{ Scan(...any) error }, extra ...any) (AuditReport, error) {
	var r AuditReport
	var from, to, created int64
	err := row.Scan(append([]any{&r.ID, &r.AccountID, &r.CreatedBy, &from, &to, &r.Events, &created}, extra...)...)
	r.From, r.To, r.CreatedAt = time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC(), fromUnix(created)
	return r, err
}

// AuditReports lists an account's reports, newest first, without their CSV.
func (s *Store) AuditReports(ctx context.Context, accountID string) ([]AuditReport, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+reportCols+` FROM audit_reports WHERE account_id = $1
		ORDER BY created_at DESC, id DESC`, accountID)
	if err != nil {
		return nil, wrap("audit reports", err)
	}
	defer rows.Close()
	var out []AuditReport
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, wrap("audit reports", err)
		}
		out = append(out, r)
	}
	return out, wrap("audit reports", rows.Err())
}

// AuditReport returns one report of accountID with its CSV.
func (s *Store) AuditReport(ctx context.Context, accountID, id string) (AuditReport, error) {
	var csv string
	r, err := scanReport(s.q.QueryRowContext(ctx, `SELECT `+reportCols+`, csv FROM audit_reports
		WHERE account_id = $1 AND id = $2`, accountID, id), &csv)
	r.CSV = csv
	return r, wrap("audit report", err)
}

// DeleteAuditReport removes one report of accountID.
func (s *Store) DeleteAuditReport(ctx context.Context, accountID, id string) error {
	return s.execOne(ctx, "delete audit report", `DELETE FROM audit_reports WHERE account_id = $1 AND id = $2`, accountID, id)
}
