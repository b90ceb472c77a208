// Package ldapauth checks the relay's LDAP logins against the directory.
// No password is stored: the directory checks it at every login, and the
// user's name, email and groups are read again each time, so the relay can
// create the user at first login and sync its LDAP groups at every login.
//
// A login is DOMAIN\user, DOMAIN being Config.Domain (case-insensitive).
// Authenticate opens one connection per call (no pool: a login is rare and
// the connection is a small part of its cost) and goes:
//
//  1. refuse without a round trip: a login that is not DOMAIN\user, another
//     domain (ErrUnknownDomain), an empty password (an unauthenticated
//     simple bind "succeeds"), names over MaxUsernameLen or with control
//     characters (ErrInvalidCredentials);
//  2. connect: ldap:// (with StartTLS if configured) or ldaps://, the
//     server's certificate checked against RootCAs and ServerName;
//  3. service bind as BindDN (anonymous if none);
//  4. search BaseDN's subtree with UserFilter, {username} replaced by the
//     escaped login name: no entry is ErrInvalidCredentials, two or more
//     ErrAmbiguous;
//  5. user bind as the entry's DN with the password: refused is
//     ErrInvalidCredentials;
//  6. groups: the entry's memberOf values (read in step 4), or a search of
//     GroupBaseDN with GroupFilter after binding as the service account
//     again.
//
// Everything is bounded by Config.Timeout and the caller's context; an
// unreachable server, a TLS failure or a timeout is ErrUnavailable wrapping
// the cause. Passwords are never logged.
package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Errors, for errors.Is; the messages wrapping them carry the detail for the
// log and the audit, not for the person logging in.
var (
	// ErrInvalidCredentials: unknown user, wrong or empty password, a name
	// that cannot be a user, or the directory refusing the user's bind.
	ErrInvalidCredentials = errors.New("ldapauth: invalid credentials")
	// ErrUnknownDomain: the login's domain is not this method's.
	ErrUnknownDomain = errors.New("ldapauth: unknown domain")
	// ErrUnavailable: no answer from the directory (unreachable, TLS
	// failure, timeout or cancellation, refused service account, missing
	// BaseDN); it wraps the cause, context errors included.
	ErrUnavailable = errors.New("ldapauth: directory unavailable")
	// ErrAmbiguous: UserFilter matches more than one entry.
	ErrAmbiguous = errors.New("ldapauth: more than one directory entry matches the user")
)

// Identity is an authenticated directory user.
type Identity struct {
	Domain      string  // Config.Domain as configured
	Username    string  // the directory's spelling (UsernameAttr), else as typed
	DN          string  // the user's entry
	Email       string  // EmailAttr; may be empty
	DisplayName string  // DisplayNameAttr, else cn; may be empty
	Groups      []Group // all the directory reports (the relay keeps those it imported); sorted by Name, then DN
}

// Group is a directory group.
type Group struct {
	DN   string
	Name string // GroupNameAttr, else the DN's first value
}

// Authenticator checks logins for one Config. Safe for concurrent use.
type Authenticator struct {
	cfg    Config
	target target
	tls    *tls.Config
	log    *slog.Logger
}

// New validates cfg and returns its Authenticator; log may be nil.
func New(cfg Config, log *slog.Logger) (*Authenticator, error) {
	t, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{cfg: cfg, target: t, log: log.With("ldap_domain", cfg.Domain)}
	if t.tls || cfg.StartTLS {
		name := cfg.ServerName
		if name == "" {
			name = t.host
		}
		a.tls = &tls.Config{RootCAs: t.roots, ServerName: name, MinVersion: tls.VersionTLS12}
	} else {
		a.log.Warn("ldapauth: ldap:// without StartTLS sends passwords in clear", "url", cfg.URL)
	}
	return a, nil
}

// Domain returns the configured domain identifier.
func (a *Authenticator) Domain() string { return a.cfg.Domain }

// SplitLogin splits DOMAIN\user at the first backslash; ok is false unless
// both parts are non-empty.
func SplitLogin(login string) (domain, user string, ok bool) {
	domain, user, found := strings.Cut(login, `\`)
	if !found || domain == "" || user == "" {
		return "", "", false
	}
	return domain, user, true
}

// Authenticate checks login (DOMAIN\user) and password against the
// directory and returns the user's identity and groups as they are now.
func (a *Authenticator) Authenticate(ctx context.Context, login, password string) (Identity, error) {
	domain, user, ok := SplitLogin(login)
	if !ok {
		return Identity{}, fmt.Errorf(`%w: the login is not DOMAIN\user`, ErrInvalidCredentials)
	}
	if !strings.EqualFold(domain, a.cfg.Domain) {
		return Identity{}, fmt.Errorf("%w: %q", ErrUnknownDomain, domain)
	}
	if reason := badUsername(user); reason != "" {
		a.log.Debug("ldapauth: login refused", "reason", reason)
		return Identity{}, fmt.Errorf("%w: %s", ErrInvalidCredentials, reason)
	}
	if password == "" {
		return Identity{}, fmt.Errorf("%w: empty password", ErrInvalidCredentials)
	}
	if len(password) > MaxPasswordLen {
		return Identity{}, fmt.Errorf("%w: password longer than %d bytes", ErrInvalidCredentials, MaxPasswordLen)
	}

	start := time.Now()
	id, err := a.authenticate(ctx, user, password)
	switch {
	case err == nil:
		a.log.Debug("ldapauth: authenticated", "user", id.Username, "dn", id.DN, "groups", len(id.Groups), "took", time.Since(start))
	case errors.Is(err, ErrInvalidCredentials):
		a.log.Debug("ldapauth: refused", "user", user, "err", err)
	default:
		a.log.Warn("ldapauth: login failed", "user", user, "err", err, "took", time.Since(start))
	}
	return id, err
}

// badUsername says why user cannot be a directory login name ("" if it can).
// Filter metacharacters are fine here: they are escaped.
func badUsername(user string) string {
	switch {
	case len(user) > MaxUsernameLen:
		return fmt.Sprintf("user name longer than %d bytes", MaxUsernameLen)
	case !utf8.ValidString(user):
		return "user name is not UTF-8"
	case strings.IndexFunc(user, unicode.IsControl) >= 0:
		return "control character in user name"
	case strings.TrimSpace(user) == "":
		return "blank user name"
	}
	return ""
}

func (a *Authenticator) authenticate(ctx context.Context, user, password string) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	c, err := a.connect(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer c.close()

	if err := c.bindService(); err != nil {
		return Identity{}, err
	}
	entry, err := c.findUser(user)
	if err != nil {
		return Identity{}, err
	}
	if err := c.conn.Bind(entry.DN, password); err != nil {
		if isRefusal(err) {
			return Identity{}, fmt.Errorf("%w: bind as %q: %w", ErrInvalidCredentials, entry.DN, err)
		}
		return Identity{}, c.unavailable("user bind", err)
	}

	id := Identity{
		Domain:      a.cfg.Domain,
		Username:    user,
		DN:          entry.DN,
		Email:       entry.GetEqualFoldAttributeValue(a.cfg.EmailAttr),
		DisplayName: entry.GetEqualFoldAttributeValue(a.cfg.DisplayNameAttr),
	}
	// The name as the directory spells it (uid may hold several values:
	// prefer the one typed).
	if names := entry.GetEqualFoldAttributeValues(a.cfg.UsernameAttr); len(names) > 0 {
		id.Username = names[0]
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(n), strings.TrimSpace(user)) {
				id.Username = n
				break
			}
		}
	}
	if id.DisplayName == "" {
		id.DisplayName = entry.GetEqualFoldAttributeValue("cn")
	}

	switch a.cfg.GroupMode {
	case GroupsMemberOf:
		for _, dn := range entry.GetEqualFoldAttributeValues(a.cfg.MemberOfAttr) {
			id.Groups = append(id.Groups, Group{DN: dn, Name: firstRDNValue(dn)})
		}
	case GroupsSearch:
		// The user may not read groups: search as the service account.
		if err := c.bindService(); err != nil {
			return Identity{}, err
		}
		filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(entry.DN), "{username}", ldap.EscapeFilter(id.Username)).
			Replace(a.cfg.GroupFilter)
		if id.Groups, err = c.searchGroups(filter); err != nil {
			return Identity{}, err
		}
	}
	id.Groups = sortGroups(id.Groups)
	return id, nil
}

// ListGroups returns the groups under GroupBaseDN matching GroupListFilter,
// as the service account: what an administrator can import as LDAP user
// groups. Errors are ErrUnavailable.
func (a *Authenticator) ListGroups(ctx context.Context) ([]Group, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	c, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.bindService(); err != nil {
		return nil, err
	}
	gs, err := c.searchGroups(a.cfg.GroupListFilter)
	if err != nil {
		return nil, err
	}
	return sortGroups(gs), nil
}

// isRefusal reports whether a user bind failed because of the user: wrong
// password, or the directory refusing the account (locked, expired,
// disabled: AD says 49 with a detail code, OpenLDAP's ppolicy 49 or 19).
func isRefusal(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInsufficientAccessRights,
		ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultConstraintViolation, ldap.LDAPResultInappropriateAuthentication)
}

// conn is one connection to the directory for one call.
type conn struct {
	a    *Authenticator
	ctx  context.Context
	conn *ldap.Conn
	stop func() bool
}

// aLongTimeAgo is a deadline in the past: it unblocks pending I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

func (a *Authenticator) connect(ctx context.Context) (*conn, error) {
	c := &conn{a: a, ctx: ctx}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", a.target.addr)
	if err != nil {
		return nil, c.unavailable("connect to "+a.target.addr, err)
	}
	// go-ldap's operations take no context: the context's end (deadline or
	// cancellation) puts the connection's deadline in the past, which fails
	// whatever is pending at once. The context's error is set by then, so
	// the error says why.
	c.stop = context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })

	nc := raw
	if a.target.tls {
		tc := tls.Client(raw, a.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.stop()
			raw.Close()
			return nil, c.unavailable("TLS with "+a.target.addr, err)
		}
		nc = tc
	}
	c.conn = ldap.NewConn(nc, a.target.tls)
	c.conn.Start()
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetTimeout(time.Until(dl) + time.Second) // a backstop only
	}
	if a.cfg.StartTLS {
		if err := c.conn.StartTLS(a.tls); err != nil {
			c.close()
			return nil, c.unavailable("StartTLS with "+a.target.addr, err)
		}
	}
	return c, nil
}

func (c *conn) close() {
	if err := c.conn.Unbind(); err != nil {
		_ = c.conn.Close()
	}
	c.stop()
}

// unavailable wraps err in ErrUnavailable, and the context's error too when
// the context ended (go-ldap then reports only a network error).
func (c *conn) unavailable(step string, err error) error {
	if cerr := c.ctx.Err(); cerr != nil {
		what := "canceled"
		if errors.Is(cerr, context.DeadlineExceeded) {
			what = "timed out"
		}
		if errors.Is(err, cerr) {
			return fmt.Errorf("%w: %s: %s (%w)", ErrUnavailable, step, what, cerr)
		}
		return fmt.Errorf("%w: %s: %s (%w): %v", ErrUnavailable, step, what, cerr, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, step, err)
}

// bindService binds as the service account, or anonymously without one.
func (c *conn) bindService() error {
	cfg := c.a.cfg
	var err error
	if cfg.BindDN == "" {
		_, err = c.conn.SimpleBind(&ldap.SimpleBindRequest{AllowEmptyPassword: true})
	} else {
		err = c.conn.Bind(cfg.BindDN, cfg.BindPassword)
	}
	if err == nil {
		return nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return c.unavailable("service bind as "+cfg.BindDN+" refused (check BindDN and BindPassword)", err)
	}
	return c.unavailable("service bind", err)
}

// findUser returns the one entry UserFilter matches for user.
func (c *conn) findUser(user string) (*ldap.Entry, error) {
	cfg := c.a.cfg
	attrs := []string{cfg.UsernameAttr, cfg.EmailAttr, cfg.DisplayNameAttr, "cn"}
	if cfg.GroupMode == GroupsMemberOf {
		attrs = append(attrs, cfg.MemberOfAttr)
	}
	filter := strings.ReplaceAll(cfg.UserFilter, "{username}", ldap.EscapeFilter(user))
	req := ldap.NewSearchRequest(cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, c.timeLimit(), false, filter, attrs, nil)
	res, err := c.conn.Search(req)
	switch {
	case err == nil:
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) >= 2:
		// more than the two asked for: ambiguous, handled below
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, c.unavailable(fmt.Sprintf("BaseDN %q does not exist", cfg.BaseDN), err)
	default:
		return nil, c.unavailable("user search", err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, fmt.Errorf("%w: no such user", ErrInvalidCredentials)
	case 1:
		return res.Entries[0], nil
	default:
		dns := make([]string, len(res.Entries))
		for i, e := range res.Entries {
			dns[i] = e.DN
		}
		return nil, fmt.Errorf("%w: UserFilter %q matches %s (and maybe more)", ErrAmbiguous, cfg.UserFilter, strings.Join(dns, "; "))
	}
}

// searchGroups returns the groups under GroupBaseDN matching filter, a page
// at a time (servers cap unpaged results: OpenLDAP at 500, AD at 1000).
func (c *conn) searchGroups(filter string) ([]Group, error) {
	cfg := c.a.cfg
	req := ldap.NewSearchRequest(cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, c.timeLimit(), false, filter, []string{cfg.GroupNameAttr}, nil)
	res, err := c.conn.SearchWithPaging(req, 500)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, c.unavailable(fmt.Sprintf("GroupBaseDN %q does not exist", cfg.GroupBaseDN), err)
		}
		return nil, c.unavailable("group search", err)
	}
	gs := make([]Group, 0, len(res.Entries))
	for _, e := range res.Entries {
		name := e.GetEqualFoldAttributeValue(cfg.GroupNameAttr)
		if name == "" {
			name = firstRDNValue(e.DN)
		}
		gs = append(gs, Group{DN: e.DN, Name: name})
	}
	return gs, nil
}

// timeLimit is the server-side time limit in whole seconds (at least 1)
// left before the context's deadline.
func (c *conn) timeLimit() int {
	dl, ok := c.ctx.Deadline()
	if !ok {
		return 0
	}
	return max(1, int(time.Until(dl).Seconds()+0.999))
}

// firstRDNValue is "Admins" for cn=Admins,ou=groups,dc=example,dc=org (the
// whole DN if it does not parse).
func firstRDNValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return dn
	}
	return d.RDNs[0].Attributes[0].Value
}

// sortGroups drops duplicate DNs (case-insensitively) and sorts by name,
// then DN.
func sortGroups(gs []Group) []Group {
	slices.SortFunc(gs, func(x, y Group) int {
		if c := strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)); c != 0 {
			return c
		}
		return strings.Compare(strings.ToLower(x.DN), strings.ToLower(y.DN))
	})
	return slices.CompactFunc(gs, func(x, y Group) bool { return strings.EqualFold(x.DN, y.DN) })
}
