package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// LDAPMethod is an account's LDAP authentication method. Config is the
// ldapauth configuration as JSON without its bind password; Secret is that
// password sealed by the relay (the store never sees it in clear).
type LDAPMethod struct {
	ID        string
	AccountID string
	Domain    string // lower-case; unique across the relay (logins name it)
	Enabled   bool
	Config    string
	Secret    string
	CreatedAt time.Time
	Kind      string // AuthLDAP (""), AuthOIDC or AuthSAML
}

func (m LDAPMethod) kind() string {
	if m.Kind == "" {
		return AuthLDAP
	}
	return m.Kind
}

// CreateLDAPMethod inserts m; a domain taken (by any account) is ErrConflict.
func (s *Store) CreateLDAPMethod(ctx context.Context, m LDAPMethod) (LDAPMethod, error) {
	if m.ID == "" {
		m.ID = NewID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	m.Domain = strings.ToLower(m.Domain)
	m.Kind = m.kind()
	_, err := s.q.ExecContext(ctx, `INSERT INTO ldap_methods (id, account_id, domain, enabled, config, secret, created_at, kind)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.ID, m.AccountID, m.Domain, m.Enabled, m.Config, m.Secret, unix(m.CreatedAt), m.Kind)
	return m, wrap("create ldap method", err)
}

const ldapCols = `id, account_id, domain, enabled, config, secret, created_at, kind`

func scanLDAP(row interface{ Scan(...any) error }) (LDAPMethod, error) {
	var m LDAPMethod
	var created int64
	err := row.Scan(&m.ID, &m.AccountID, &m.Domain, &m.Enabled, &m.Config, &m.Secret, &created, &m.Kind)
	m.CreatedAt = fromUnix(created)
	return m, err
}

// LDAPMethodByDomain finds the method users of domain log in through.
func (s *Store) LDAPMethodByDomain(ctx context.Context, domain string) (LDAPMethod, error) {
	m, err := scanLDAP(s.q.QueryRowContext(ctx, `SELECT `+ldapCols+` FROM ldap_methods WHERE domain = $1`, strings.ToLower(domain)))
	return m, wrap("ldap method", err)
}

// LDAPMethods lists an account's LDAP methods by domain.
func (s *Store) LDAPMethods(ctx context.Context, accountID string) ([]LDAPMethod, error) {
	return s.methods(ctx, accountID, AuthLDAP)
}

// OIDCMethods lists an account's OpenID Connect methods by domain.
func (s *Store) OIDCMethods(ctx context.Context, accountID string) ([]LDAPMethod, error) {
	return s.methods(ctx, accountID, AuthOIDC)
}

// SAMLMethods lists an account's SAML methods by domain.
func (s *Store) SAMLMethods(ctx context.Context, accountID string) ([]LDAPMethod, error) {
	return s.methods(ctx, accountID, AuthSAML)
}

func (s *Store) methods(ctx context.Context, accountID, kind string) ([]LDAPMethod, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+ldapCols+` FROM ldap_methods WHERE account_id = $1 AND kind = $2 ORDER BY domain`, accountID, kind)
	if err != nil {
		return nil, wrap("ldap methods", err)
	}
	defer rows.Close()
	var out []LDAPMethod
	for rows.Next() {
		m, err := scanLDAP(rows)
		if err != nil {
			return nil, wrap("ldap methods", err)
		}
		out = append(out, m)
	}
	return out, wrap("ldap methods", rows.Err())
}

// DeleteLDAPMethod removes an LDAP method of accountID; its users stay
// (and can no longer log in), its identities go.
func (s *Store) DeleteLDAPMethod(ctx context.Context, accountID, id string) error {
	return s.DeleteMethod(ctx, accountID, id, AuthLDAP)
}

// DeleteMethod removes a method of accountID of that kind (AuthLDAP, AuthOIDC).
func (s *Store) DeleteMethod(ctx context.Context, accountID, id, kind string) error {
	return s.execOne(ctx, "delete sign-in method", `DELETE FROM ldap_methods WHERE account_id = $1 AND id = $2 AND kind = $3`, accountID, id, kind)
}

// LDAPLogin finds or creates the user behind a directory login and makes
// it a member of the method's account: on first login a user of type User
// (spec 4.1.2), named and addressed as the directory says (email falls
// back to a reserved .invalid address when the directory has none or it is
// taken). It then sets the user's membership of the account's LDAP groups
// of this method to exactly those named in groups (case-insensitive).
//
// For an OIDC method, username is the IdP's subject, kept as it is (subjects
// are case-sensitive), and the user's auth is AuthOIDC.
func (s *Store) LDAPLogin(ctx context.Context, m LDAPMethod, username, email, name string, groups []string) (User, bool, error) {
	kind := m.kind()
	if kind == AuthLDAP {
		username = strings.ToLower(username)
	}
	var u User
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var uid string
		err := tx.QueryRowContext(ctx, `SELECT user_id FROM ldap_identities WHERE method_id = $1 AND username = $2`, m.ID, username).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			now := unix(s.now())
			uid = NewID()
			addr := strings.ToLower(email)
			var taken int
			if addr != "" {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = $1`, addr).Scan(&taken); err != nil {
					return err
				}
			}
			if addr == "" || taken > 0 {
				addr = strings.ToLower(username) + "@" + m.Domain + "." + kind + ".invalid"
				if kind != AuthLDAP {
					addr = uid + "@" + m.Domain + "." + kind + ".invalid" // a subject may hold anything
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, disabled, created_at, auth)
				VALUES ($1, $2, $3, '', FALSE, $4, $5)`, uid, addr, name, now, kind); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ldap_identities (method_id, username, user_id) VALUES ($1, $2, $3)`,
				m.ID, username, uid); err != nil {
				return err
			}
			created = true
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (account_id, user_id, type, created_at, updated_at)
			VALUES ($1, $2, 'user', $3, $3) ON CONFLICT DO NOTHING`, m.AccountID, uid, unix(s.now())); err != nil {
			return err
		}
		// Group sync: out of every LDAP group of this method, then into the
		// ones the directory names.
		if _, err := tx.ExecContext(ctx, `DELETE FROM access_group_members WHERE member_id = $1 AND group_id IN
			(SELECT id FROM access_groups WHERE account_id = $2 AND kind = 'ldap_user' AND ldap_method = $3)`, uid, m.AccountID, m.ID); err != nil {
			return err
		}
		for _, g := range groups {
			if _, err := tx.ExecContext(ctx, `INSERT INTO access_group_members (group_id, member_id)
				SELECT id, $1 FROM access_groups WHERE account_id = $2 AND kind = 'ldap_user' AND ldap_method = $3 AND LOWER(name) = LOWER($4)
				ON CONFLICT DO NOTHING`, uid, m.AccountID, m.ID, g); err != nil {
				return err
			}
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, uid))
		return err
	})
	return u, created, wrap("ldap login", err)
}

// CreateLDAPGroup imports a directory group of method into its account:
// its name is the directory's, its members come from logins only.
func (s *Store) CreateLDAPGroup(ctx context.Context, g Group, methodID string) (Group, error) {
	if g.ID == "" {
		g.ID = NewID()
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO access_groups (id, account_id, name, description, kind, active, created_at, ldap_method)
		VALUES ($1, $2, $3, $4, 'ldap_user', $5, $6, $7)`, g.ID, g.AccountID, g.Name, g.Description, g.Active, unix(g.CreatedAt), methodID)
	g.Kind = "ldap_user"
	return g, wrap("create ldap group", err)
}

// UpdateLDAPMethod replaces a method of m.AccountID (domain, status,
// configuration, sealed password); a domain taken is ErrConflict.
func (s *Store) UpdateLDAPMethod(ctx context.Context, m LDAPMethod) error {
	return s.execOne(ctx, "update ldap method", `UPDATE ldap_methods SET domain = $3, enabled = $4, config = $5, secret = $6
		WHERE account_id = $1 AND id = $2 AND kind = 'ldap'`, m.AccountID, m.ID, strings.ToLower(m.Domain), m.Enabled, m.Config, m.Secret)
}

// OIDCButtonMethods lists, relay-wide, the enabled OIDC methods (at most
// limit, by domain): the Portal's sign-in page shows those with a button.
func (s *Store) OIDCButtonMethods(ctx context.Context, limit int) ([]LDAPMethod, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+ldapCols+` FROM ldap_methods WHERE kind = 'oidc' AND enabled ORDER BY domain LIMIT $1`, limit)
	if err != nil {
		return nil, wrap("oidc methods", err)
	}
	defer rows.Close()
	var out []LDAPMethod
	for rows.Next() {
		m, err := scanLDAP(rows)
		if err != nil {
			return nil, wrap("oidc methods", err)
		}
		out = append(out, m)
	}
	return out, wrap("oidc methods", rows.Err())
}

// LDAPMethodByID finds a method of any account and kind by its id.
func (s *Store) LDAPMethodByID(ctx context.Context, id string) (LDAPMethod, error) {
	m, err := scanLDAP(s.q.QueryRowContext(ctx, `SELECT `+ldapCols+` FROM ldap_methods WHERE id = $1`, id))
	return m, wrap("sign-in method", err)
}

// UpdateMethodConfig replaces the configuration of a method of m.AccountID
// of m's kind.
func (s *Store) UpdateMethodConfig(ctx context.Context, m LDAPMethod) error {
	return s.execOne(ctx, "update sign-in method", `UPDATE ldap_methods SET config = $3 WHERE account_id = $1 AND id = $2 AND kind = $4`,
		m.AccountID, m.ID, m.Config, m.kind())
}
