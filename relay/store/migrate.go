package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema. Steps are applied in order, each in
// its own transaction together with its schema_version row, and never edited
// once released: a change is a new step.
//
// The same steps run on SQLite and PostgreSQL. The SQL sticks to what both share: TEXT, BIGINT, INTEGER,
// BOOLEAN, CHECK, UNIQUE, REFERENCES ... ON DELETE, CREATE INDEX. Times are
// unix seconds (audit: milliseconds) in BIGINT columns; ids are UUID strings;
// JSON is kept in TEXT.
type migration struct {
	version int
	name    string
	stmts   []string
}

var migrations = []migration{
	{1, "foundation", []string{
		`CREATE TABLE accounts (
			id         TEXT PRIMARY KEY,
			name       TEXT NOT NULL UNIQUE,
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE users (
			id            TEXT PRIMARY KEY,
			email         TEXT NOT NULL UNIQUE,
			name          TEXT NOT NULL DEFAULT '',
			password_hash TEXT NOT NULL,
			disabled      BOOLEAN NOT NULL DEFAULT FALSE,
			created_at    BIGINT NOT NULL
		)`,
		`CREATE TABLE memberships (
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			type       TEXT NOT NULL CHECK (type IN ('owner', 'admin', 'user')),
			created_at BIGINT NOT NULL,
			PRIMARY KEY (account_id, user_id)
		)`,
		`CREATE INDEX memberships_user ON memberships (user_id)`,
		`CREATE TABLE login_tokens (
			token_hash TEXT PRIMARY KEY,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			created_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX login_tokens_user ON login_tokens (user_id)`,
		`CREATE INDEX login_tokens_expiry ON login_tokens (expires_at)`,
		`CREATE TABLE deployment_packages (
			id               TEXT PRIMARY KEY,
			account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			name             TEXT NOT NULL,
			description      TEXT NOT NULL DEFAULT '',
			key_hash         TEXT NOT NULL UNIQUE,
			enrollment_state TEXT NOT NULL CHECK (enrollment_state IN ('enrolled', 'pending')),
			active           BOOLEAN NOT NULL DEFAULT TRUE,
			valid_from       BIGINT,
			valid_to         BIGINT,
			max_devices      INTEGER,
			created_at       BIGINT NOT NULL,
			UNIQUE (account_id, name)
		)`,
		`CREATE TABLE devices (
			id             TEXT PRIMARY KEY,
			account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			package_id     TEXT REFERENCES deployment_packages(id) ON DELETE SET NULL,
			public_key     TEXT NOT NULL UNIQUE,
			state          TEXT NOT NULL CHECK (state IN ('enrolled', 'pending', 'revoked')),
			hostname       TEXT NOT NULL DEFAULT '',
			alias          TEXT NOT NULL DEFAULT '',
			os             TEXT NOT NULL DEFAULT '',
			arch           TEXT NOT NULL DEFAULT '',
			version        TEXT NOT NULL DEFAULT '',
			logged_in_user TEXT NOT NULL DEFAULT '',
			monitors       TEXT NOT NULL DEFAULT '[]',
			enrolled_at    BIGINT NOT NULL,
			last_seen      BIGINT
		)`,
		`CREATE INDEX devices_account_hostname ON devices (account_id, hostname)`,
		`CREATE INDEX devices_package ON devices (package_id)`,
		`CREATE TABLE remote_sessions (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
			action      TEXT NOT NULL,
			permissions TEXT NOT NULL DEFAULT '[]',
			created_at  BIGINT NOT NULL,
			expires_at  BIGINT NOT NULL,
			started_at  BIGINT,
			ended_at    BIGINT,
			end_reason  TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX remote_sessions_device ON remote_sessions (device_id, created_at)`,
		`CREATE INDEX remote_sessions_user ON remote_sessions (user_id, created_at)`,
		// Audit rows outlive what they mention: no foreign keys.
		`CREATE TABLE audit_events (
			id              TEXT PRIMARY KEY,
			at_ms           BIGINT NOT NULL,
			account_id      TEXT,
			actor_user_id   TEXT,
			actor_device_id TEXT,
			event           TEXT NOT NULL,
			detail          TEXT NOT NULL DEFAULT '{}',
			remote_addr     TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX audit_events_account ON audit_events (account_id, at_ms)`,
		`CREATE INDEX audit_events_event ON audit_events (event, at_ms)`,
	}},
	{2, "audit settings, user index, reports", []string{
		// Logging is on unless an administrator turns it off (spec 5.3.1).
		`ALTER TABLE accounts ADD COLUMN audit_enabled BOOLEAN NOT NULL DEFAULT TRUE`,
		`CREATE INDEX audit_events_user ON audit_events (actor_user_id, at_ms)`,
		`CREATE INDEX audit_events_at ON audit_events (at_ms)`,
		// A generated report keeps its CSV: it answers for the events as they
		// were when it was made (spec 5.3.2).
		`CREATE TABLE audit_reports (
			id         TEXT PRIMARY KEY,
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			created_by TEXT NOT NULL DEFAULT '',
			from_ms    BIGINT NOT NULL,
			to_ms      BIGINT NOT NULL,
			events     BIGINT NOT NULL,
			created_at BIGINT NOT NULL,
			csv        TEXT NOT NULL
		)`,
		`CREATE INDEX audit_reports_account ON audit_reports (account_id, created_at)`,
	}},
	{3, "access model: groups, roles, applications, role assignments", []string{
		`CREATE TABLE access_groups (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			name        TEXT NOT NULL,
			description TEXT NOT NULL DEFAULT '',
			kind        TEXT NOT NULL CHECK (kind IN ('user', 'ldap_user', 'azure_ad_user', 'device')),
			active      BOOLEAN NOT NULL DEFAULT TRUE,
			created_at  BIGINT NOT NULL,
			UNIQUE (account_id, kind, name)
		)`,
		// Members are users or devices; their rows go with them.
		`CREATE TABLE access_group_members (
			group_id  TEXT NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
			member_id TEXT NOT NULL,
			PRIMARY KEY (group_id, member_id)
		)`,
		`CREATE INDEX access_group_members_member ON access_group_members (member_id)`,
		`CREATE TABLE access_roles (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			name        TEXT NOT NULL,
			description TEXT NOT NULL DEFAULT '',
			type        TEXT NOT NULL CHECK (type IN ('device', 'ondemand', 'confirm_access', 'whitelisted_apps')),
			enabled     BOOLEAN NOT NULL DEFAULT TRUE,
			rules       TEXT NOT NULL DEFAULT '{}',
			created_at  BIGINT NOT NULL,
			UNIQUE (account_id, name)
		)`,
		`CREATE TABLE access_apps (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			name        TEXT NOT NULL,
			enabled     BOOLEAN NOT NULL DEFAULT TRUE,
			path        TEXT NOT NULL DEFAULT '',
			executable  TEXT NOT NULL,
			description TEXT NOT NULL DEFAULT '',
			UNIQUE (account_id, name)
		)`,
		`CREATE TABLE access_assignments (
			id            TEXT PRIMARY KEY,
			account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			name          TEXT NOT NULL,
			description   TEXT NOT NULL DEFAULT '',
			active        BOOLEAN NOT NULL DEFAULT TRUE,
			role_id       TEXT NOT NULL,
			user_groups   TEXT NOT NULL DEFAULT '[]',
			device_groups TEXT NOT NULL DEFAULT '[]',
			schedule      TEXT,
			created_at    BIGINT NOT NULL
		)`,
		`CREATE INDEX access_assignments_account ON access_assignments (account_id)`,
		// Access is denied by default: accounts from before the access model
		// keep working through an "Administrators" group of their owners
		// and administrators with the Administrator role on Everything (the
		// same start store.SeedAccess gives new accounts).
		`INSERT INTO access_groups (id, account_id, name, description, kind, active, created_at)
			SELECT 'administrators-' || id, id, 'Administrators', 'Full access to every device (created with the account).', 'user', TRUE, created_at
			FROM accounts`,
		`INSERT INTO access_group_members (group_id, member_id)
			SELECT 'administrators-' || account_id, user_id FROM memberships WHERE type IN ('owner', 'admin')`,
		`INSERT INTO access_assignments (id, account_id, name, description, active, role_id, user_groups, device_groups, schedule, created_at)
			SELECT 'administrators-' || id, id, 'Administrators: full access', '', TRUE, 'administrator',
				'["administrators-' || id || '"]', '["everything"]', NULL, created_at
			FROM accounts`,
	}},
	// Users (spec ch. 2, 4.1, 5.1): a fourth member type with per-account
	// settings, invitations, one-off user tokens (password reset, MFA
	// challenge), recovery codes, API keys and login lockout. SQLite cannot
	// alter a CHECK, so memberships is rebuilt under a new name and renamed.
	{4, "users", []string{
		`CREATE TABLE memberships_v2 (
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			type       TEXT NOT NULL CHECK (type IN ('owner', 'admin', 'group_manager', 'user')),
			alias      TEXT NOT NULL DEFAULT '',
			ondemand   BOOLEAN NOT NULL DEFAULT TRUE,
			rc_action  TEXT NOT NULL DEFAULT 'browser' CHECK (rc_action IN ('guest', 'browser')),
			api        BOOLEAN NOT NULL DEFAULT FALSE,
			mfa        BOOLEAN NOT NULL DEFAULT FALSE,
			disabled   BOOLEAN NOT NULL DEFAULT FALSE,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (account_id, user_id)
		)`,
		`INSERT INTO memberships_v2 (account_id, user_id, type, created_at, updated_at)
			SELECT account_id, user_id, type, created_at, created_at FROM memberships`,
		`DROP TABLE memberships`,
		`ALTER TABLE memberships_v2 RENAME TO memberships`,
		`CREATE INDEX memberships_user ON memberships (user_id)`,
		`ALTER TABLE accounts ADD COLUMN mfa TEXT NOT NULL DEFAULT 'disabled'`,
		`ALTER TABLE users ADD COLUMN auth TEXT NOT NULL DEFAULT 'internal'`,
		`ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE users ADD COLUMN locked_until BIGINT`,
		`CREATE TABLE invites (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			email       TEXT NOT NULL,
			name        TEXT NOT NULL DEFAULT '',
			type        TEXT NOT NULL CHECK (type IN ('admin', 'group_manager', 'user')),
			ondemand    BOOLEAN NOT NULL DEFAULT TRUE,
			rc_action   TEXT NOT NULL DEFAULT 'browser',
			api         BOOLEAN NOT NULL DEFAULT FALSE,
			mfa         BOOLEAN NOT NULL DEFAULT FALSE,
			token_hash  TEXT NOT NULL UNIQUE,
			invited_by  TEXT NOT NULL DEFAULT '',
			resends     INTEGER NOT NULL DEFAULT 0,
			created_at  BIGINT NOT NULL,
			expires_at  BIGINT NOT NULL,
			accepted_at BIGINT,
			UNIQUE (account_id, email)
		)`,
		`CREATE TABLE user_tokens (
			token_hash TEXT PRIMARY KEY,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			purpose    TEXT NOT NULL CHECK (purpose IN ('reset', 'mfa')),
			code_hash  TEXT NOT NULL DEFAULT '',
			tries      INTEGER NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose)`,
		`CREATE INDEX user_tokens_expiry ON user_tokens (expires_at)`,
		`CREATE TABLE recovery_codes (
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			code_hash  TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			used_at    BIGINT,
			PRIMARY KEY (user_id, code_hash)
		)`,
		`CREATE TABLE api_keys (
			id         TEXT PRIMARY KEY,
			account_id TEXT NOT NULL,
			user_id    TEXT NOT NULL,
			name       TEXT NOT NULL DEFAULT '',
			prefix     TEXT NOT NULL,
			key_hash   TEXT NOT NULL UNIQUE,
			created_at BIGINT NOT NULL,
			last_used  BIGINT,
			FOREIGN KEY (account_id, user_id) REFERENCES memberships (account_id, user_id) ON DELETE CASCADE
		)`,
		`CREATE INDEX api_keys_member ON api_keys (account_id, user_id)`,
	}},
	// LDAP authentication methods (spec 5.2.1), the directory identities of
	// the users they created, and LDAP user groups tied to a method.
	{5, "ldap", []string{
		`CREATE TABLE ldap_methods (
			id         TEXT PRIMARY KEY,
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			domain     TEXT NOT NULL UNIQUE,
			enabled    BOOLEAN NOT NULL DEFAULT TRUE,
			config     TEXT NOT NULL,
			secret     TEXT NOT NULL DEFAULT '',
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE ldap_identities (
			method_id TEXT NOT NULL REFERENCES ldap_methods(id) ON DELETE CASCADE,
			username  TEXT NOT NULL,
			user_id   TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
			PRIMARY KEY (method_id, username)
		)`,
		`ALTER TABLE access_groups ADD COLUMN ldap_method TEXT NOT NULL DEFAULT ''`,
	}},
	// Deployment packages (spec 4.5.1, 4.5.5): revoked state, license key,
	// the device group new devices join.
	{6, "package revocation, license key, device group", []string{
		`ALTER TABLE deployment_packages ADD COLUMN revoked BOOLEAN NOT NULL DEFAULT FALSE`,
		`ALTER TABLE deployment_packages ADD COLUMN license_key TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE deployment_packages ADD COLUMN device_group TEXT NOT NULL DEFAULT ''`,
	}},
	// Account details (spec 6.1), edited by the owner.
	{7, "account details", []string{
		`ALTER TABLE accounts ADD COLUMN company TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE accounts ADD COLUMN contact TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE accounts ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC'`,
		`ALTER TABLE accounts ADD COLUMN rc_action TEXT NOT NULL DEFAULT 'browser'`,
	}},
	// Device descriptions and each user's favorite devices (spec 4.3).
	{8, "device description, favorites", []string{
		`ALTER TABLE devices ADD COLUMN description TEXT NOT NULL DEFAULT ''`,
		`CREATE TABLE favorites (
			user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
			PRIMARY KEY (user_id, device_id)
		)`,
	}},
	// Confirm access via email (spec 4.4.10): a request, and one single-use
	// link per recipient so the log says who answered.
	{9, "confirm access via email", []string{
		`CREATE TABLE confirmations (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			user_id     TEXT NOT NULL,
			device_id   TEXT NOT NULL,
			action      TEXT NOT NULL,
			status      TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied', 'used')),
			decided_by  TEXT NOT NULL DEFAULT '',
			created_at  BIGINT NOT NULL,
			expires_at  BIGINT NOT NULL,
			decided_at  BIGINT
		)`,
		`CREATE TABLE confirmation_links (
			token_hash      TEXT PRIMARY KEY,
			confirmation_id TEXT NOT NULL REFERENCES confirmations(id) ON DELETE CASCADE,
			user_id         TEXT NOT NULL
		)`,
	}},
	// The log-administrator right (roles document 002): reads every event
	// of the account without being an administrator.
	{10, "log administrators", []string{
		`ALTER TABLE memberships ADD COLUMN log_admin BOOLEAN NOT NULL DEFAULT FALSE`,
	}},
	// An emailed confirmation can race the Host's own prompt for a granted
	// session (both on one role): it names that session.
	{11, "confirmation session", []string{
		`ALTER TABLE confirmations ADD COLUMN session_id TEXT NOT NULL DEFAULT ''`,
	}},
	// OnDemand sessions (spec 3.2): single-use keys, known by a keyed hash
	// (key_hash) and sealed for their technicians (key_sealed); the agent
	// that joins gets an ephemeral device row (devices.ondemand), kept out
	// of every device list and deleted when the key dies.
	{12, "ondemand sessions", []string{
		`ALTER TABLE devices ADD COLUMN ondemand BOOLEAN NOT NULL DEFAULT FALSE`,
		`CREATE TABLE ondemand_sessions (
			id          TEXT PRIMARY KEY,
			account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			created_by  TEXT NOT NULL,
			key_hash    TEXT NOT NULL UNIQUE,
			key_sealed  TEXT NOT NULL,
			state       TEXT NOT NULL CHECK (state IN ('created', 'waiting', 'started', 'ended', 'rejected', 'expired')),
			created_at  BIGINT NOT NULL,
			expires_at  BIGINT NOT NULL,
			joined_at   BIGINT,
			device_id   TEXT NOT NULL DEFAULT '',
			hostname    TEXT NOT NULL DEFAULT '',
			os          TEXT NOT NULL DEFAULT '',
			os_user     TEXT NOT NULL DEFAULT '',
			session_id  TEXT NOT NULL DEFAULT '',
			started_by  TEXT NOT NULL DEFAULT '',
			ended_by    TEXT NOT NULL DEFAULT '',
			ended_at    BIGINT,
			end_reason  TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX ondemand_sessions_account ON ondemand_sessions (account_id, state)`,
		`CREATE INDEX ondemand_sessions_device ON ondemand_sessions (device_id)`,
		`CREATE INDEX ondemand_sessions_session ON ondemand_sessions (session_id)`,
	}},
	// When an administrator last lifted a user's login blocks: relays
	// (and other nodes) drop the per-source delays counted before it.
	{13, "login unlocks", []string{
		`CREATE TABLE login_unlocks (
			user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
			at      BIGINT NOT NULL -- unix milliseconds
		)`,
	}},
	// API keys expire: the keys made before get the default 90 days from
	// their creation. (14, not 13: h-brute's "login unlocks" is 13.)
	{14, "api key expiry", []string{
		`ALTER TABLE api_keys ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0`,
		`UPDATE api_keys SET expires_at = created_at + 90 * 86400`,
	}},
	// Second factors (issue 17): a user's TOTP secret (sealed by the relay,
	// confirmed once a code from it was typed; the last accepted step, so a
	// code never works twice), each account's allowed factors (no row: all
	// of them), passkeys (WebAuthn credentials) and their ceremonies.
	{15, "totp, passkeys, account mfa factors", []string{
		`CREATE TABLE user_totp (
			user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
			secret       TEXT NOT NULL,
			created_at   BIGINT NOT NULL,
			confirmed_at BIGINT,
			last_step    BIGINT NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE account_mfa_factors (
			account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
			factors    TEXT NOT NULL
		)`,
		`CREATE TABLE webauthn_credentials (
			id         TEXT PRIMARY KEY, -- the credential id, base64url
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			name       TEXT NOT NULL DEFAULT '',
			credential TEXT NOT NULL, -- JSON: public key, counter, flags
			created_at BIGINT NOT NULL,
			last_used  BIGINT
		)`,
		`CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id)`,
		`CREATE TABLE webauthn_ceremonies (
			token_hash TEXT PRIMARY KEY,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			purpose    TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
			state      TEXT NOT NULL,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at)`,
	}},
	// Choose columns (spec 2.2.1) remembered per user, on every browser:
	// one row per listing, its column keys comma-joined.
	{16, "user columns", []string{
		`CREATE TABLE user_columns (
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			list       TEXT NOT NULL,
			columns    TEXT NOT NULL,
			updated_at BIGINT NOT NULL,
			PRIMARY KEY (user_id, list)
		)`,
	}},
	// The Portal logos of an account (spec 6.3): rect (4:1) and square
	// (1:1), checked and cleaned by relay/logo, stored base64 so both
	// engines keep them as TEXT.
	{17, "portal logos", []string{
		`CREATE TABLE account_logos (
			account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			shape        TEXT NOT NULL CHECK (shape IN ('rect', 'square')),
			content_type TEXT NOT NULL,
			data         TEXT NOT NULL,
			updated_at   BIGINT NOT NULL,
			PRIMARY KEY (account_id, shape)
		)`,
	}},
	// "Created by" and "Modified by" (spec 4.1.4) come from the audit log:
	// an event that creates or changes a user, device, role or role
	// assignment names it ("user:ID", ...), indexed so a page's authors are
	// one LIMIT 1 seek per entity. Older events have none: shown as "-".
	{18, "audit subjects", []string{
		`ALTER TABLE audit_events ADD COLUMN subject TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX audit_events_subject ON audit_events (account_id, subject, at_ms)`,
	}},
	// OpenID Connect sign-in methods (issue 17) share the LDAP methods'
	// table: one relay-wide namespace of DOMAIN\user domains, the same
	// identities (the IdP's subject as username) and imported groups.
	{19, "oidc methods", []string{
		`ALTER TABLE ldap_methods ADD COLUMN kind TEXT NOT NULL DEFAULT 'ldap' CHECK (kind IN ('ldap', 'oidc'))`,
	}},
	// SAML sign-in methods (issue 17) join the methods' table: SQLite
	// cannot alter the kind's CHECK, so the methods and their identities
	// (which reference them) are rebuilt, the identities dropped first so
	// no cascade runs. Pending SSO sign-ins (OIDC states, SAML request ids)
	// and used SAML assertion ids live in the database, so every node of a
	// cluster finishes a sign-in another started and refuses a replay
	// another accepted.
	{20, "saml methods, sso state in the database", []string{
		`CREATE TABLE ldap_methods_v2 (
			id         TEXT PRIMARY KEY,
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			domain     TEXT NOT NULL UNIQUE,
			enabled    BOOLEAN NOT NULL DEFAULT TRUE,
			config     TEXT NOT NULL,
			secret     TEXT NOT NULL DEFAULT '',
			created_at BIGINT NOT NULL,
			kind       TEXT NOT NULL DEFAULT 'ldap' CHECK (kind IN ('ldap', 'oidc', 'saml'))
		)`,
		`INSERT INTO ldap_methods_v2 (id, account_id, domain, enabled, config, secret, created_at, kind)
			SELECT id, account_id, domain, enabled, config, secret, created_at, kind FROM ldap_methods`,
		`CREATE TABLE ldap_identities_v2 (
			method_id TEXT NOT NULL REFERENCES ldap_methods_v2(id) ON DELETE CASCADE,
			username  TEXT NOT NULL,
			user_id   TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
			PRIMARY KEY (method_id, username)
		)`,
		`INSERT INTO ldap_identities_v2 (method_id, username, user_id) SELECT method_id, username, user_id FROM ldap_identities`,
		`DROP TABLE ldap_identities`,
		`DROP TABLE ldap_methods`,
		`ALTER TABLE ldap_methods_v2 RENAME TO ldap_methods`,
		`ALTER TABLE ldap_identities_v2 RENAME TO ldap_identities`,
		`CREATE TABLE sso_pending (
			state      TEXT PRIMARY KEY,
			kind       TEXT NOT NULL CHECK (kind IN ('oidc', 'saml')),
			data       TEXT NOT NULL,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX sso_pending_expires ON sso_pending (expires_at)`,
		`CREATE TABLE saml_used_assertions (
			id         TEXT PRIMARY KEY,
			expires_at BIGINT NOT NULL
		)`,
		`CREATE INDEX saml_used_assertions_expires ON saml_used_assertions (expires_at)`,
	}},
	// SMS codes (issue 17, seed 000): one live code per purpose and user
	// (phone enrolment, sign-in), kept only as a keyed hash, with its tries
	// and the send budget (sent_at, a window's count) that rate-limits it;
	// each user's verified phone number; and scoped administration (seed
	// 001): a member's View, Edit or Admin on one device group.
	{21, "sms codes and phones, device group scopes", []string{
		`CREATE TABLE group_scopes (
			group_id   TEXT NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
			user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			level      TEXT NOT NULL CHECK (level IN ('view', 'edit', 'admin')),
			PRIMARY KEY (group_id, user_id)
		)`,
		`CREATE INDEX group_scopes_user ON group_scopes (account_id, user_id)`,
		`CREATE TABLE sms_codes (
			id           TEXT PRIMARY KEY,
			phone        TEXT NOT NULL,
			code_hash    TEXT NOT NULL,
			tries        INTEGER NOT NULL DEFAULT 0,
			expires_at   BIGINT NOT NULL,
			sent_at      BIGINT NOT NULL,
			window_start BIGINT NOT NULL,
			sends        INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE user_phones (
			user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
			phone       TEXT NOT NULL,
			verified_at BIGINT NOT NULL
		)`,
	}},
	// Signing-key rotations (issue 18): each row is a key that replaced
	// the one before (the first replaced the data directory's or the
	// cluster's root key), its seed sealed under the root key, with the
	// previous key's signed hand-over that Hosts follow (relay/keyring).
	{22, "signing key rotations", []string{
		`CREATE TABLE relay_signing_keys (
			seq         BIGINT PRIMARY KEY,
			public_key  TEXT NOT NULL UNIQUE,
			sealed_seed TEXT NOT NULL,
			handover    TEXT NOT NULL,
			created_at  BIGINT NOT NULL
		)`,
	}},
	// The narrower admin rights of roles document 002 (issue 17): a user
	// administrator invites and removes users and gives the rights it
	// holds; a user creator invites users and gives no rights.
	{23, "user administrators, user creators", []string{
		`ALTER TABLE memberships ADD COLUMN user_admin BOOLEAN NOT NULL DEFAULT FALSE`,
		`ALTER TABLE memberships ADD COLUMN user_creator BOOLEAN NOT NULL DEFAULT FALSE`,
	}},
}

// SchemaVersion is the newest schema this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the database up to SchemaVersion. It refuses a database
// written by a newer build rather than guessing. On PostgreSQL it holds an
// advisory lock throughout, so relay nodes starting together against one
// database migrate one after the other (the later ones find nothing to do).
func (s *Store) migrate(ctx context.Context) error {
	unlock, err := s.eng.lock(ctx, s.db)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer unlock()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: create schema_version: %w", err)
	}
	for _, m := range migrations {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	cur, err := s.Version(ctx)
	if err != nil {
		return err
	}
	if cur > SchemaVersion() {
		return fmt.Errorf("store: database schema %d is newer than this build's %d: %w", cur, SchemaVersion(), ErrSchemaTooNew)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version WHERE version = $1`, m.version).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: read schema_version: %w", err)
		}
		if n > 0 {
			return nil
		}
		for _, q := range m.stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, s.now().Unix())
		return err
	})
}

// Version returns the highest applied migration.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema_version: %w", err)
	}
	return int(v.Int64), nil
}
