package ldapauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/go-ldap/ldap/v3"
)

// Filters. {username} stands for the login name and {dn} for the user's
// DN; both are escaped (RFC 4515) before they are put in.
const (
	// DefaultUserFilter finds OpenLDAP-style users (inetOrgPerson and the
	// like) by uid.
	DefaultUserFilter = "(&(objectClass=person)(uid={username}))"
	// ADUserFilter finds Active Directory users by sAMAccountName and
	// leaves out disabled accounts (userAccountControl bit 2). Use it with
	// UsernameAttr "sAMAccountName".
	ADUserFilter = "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"

	// DefaultGroupFilter finds the groups listing the user, whatever their
	// style: groupOfNames (member: DN), groupOfUniqueNames (uniqueMember:
	// DN), posixGroup (memberUid: login name) and Active Directory's group
	// (member: DN; direct membership only).
	DefaultGroupFilter = "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))(&(objectClass=posixGroup)(memberUid={username}))(&(objectClass=group)(member={dn})))"
	// ADNestedGroupFilter finds Active Directory groups the user belongs
	// to directly or through nested groups (LDAP_MATCHING_RULE_IN_CHAIN).
	ADNestedGroupFilter = "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))"

	// DefaultGroupListFilter is what ListGroups offers for import: the
	// group styles above plus Active Directory's group.
	DefaultGroupListFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)(objectClass=group))"

	// DefaultTimeout bounds one Authenticate or ListGroups call.
	DefaultTimeout = 10 * time.Second

	// MaxUsernameLen and MaxPasswordLen (bytes) are refused beyond, before
	// the directory is asked: directory names are far shorter (AD's
	// sAMAccountName: 20), and nothing longer deserves a round trip.
	MaxUsernameLen = 256
	MaxPasswordLen = 1024
)

// GroupMode says where a user's groups come from.
type GroupMode string

const (
	// GroupsMemberOf reads the user entry's memberOf attribute
	// (MemberOfAttr): Active Directory, and OpenLDAP with the memberof or
	// dynlist overlay. No extra search.
	GroupsMemberOf GroupMode = "memberOf"
	// GroupsSearch searches GroupBaseDN with GroupFilter as the service
	// account, after the user's bind succeeded. Works on any directory
	// without overlays; the default.
	GroupsSearch GroupMode = "search"
	// GroupsNone looks up no groups.
	GroupsNone GroupMode = "none"
)

// Config is one LDAP authentication method of the relay.
type Config struct {
	// Domain is the identifier users type before the backslash
	// ("CORP" in CORP\jdoe); compared case-insensitively.
	Domain string

	// URL is ldap://host[:389] or ldaps://host[:636].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before anything is
	// sent. Without it (or ldaps://) passwords cross the network in clear;
	// New logs a warning.
	StartTLS bool
	// RootCAs (PEM) are the CAs trusted for the server's certificate;
	// empty: the system's.
	RootCAs []byte
	// ServerName is the name checked in the server's certificate; empty:
	// the URL's host.
	ServerName string

	// BindDN and BindPassword are the service account that searches for
	// users (and groups). Empty BindDN: anonymous search.
	BindDN       string
	BindPassword string

	// BaseDN is where users are searched (whole subtree).
	BaseDN string
	// UserFilter finds the user; it must contain {username}. Default
	// DefaultUserFilter (OpenLDAP uid); ADUserFilter for Active Directory.
	UserFilter string
	// UsernameAttr holds the login name: the directory's spelling of it
	// becomes Identity.Username. Default "uid"; "sAMAccountName" for AD.
	UsernameAttr string
	// EmailAttr (default "mail") and DisplayNameAttr (default
	// "displayName", falling back to cn) fill Identity.
	EmailAttr       string
	DisplayNameAttr string

	// GroupMode: GroupsSearch (the default), GroupsMemberOf or GroupsNone.
	GroupMode GroupMode
	// MemberOfAttr is the user attribute listing group DNs (GroupsMemberOf).
	// Default "memberOf".
	MemberOfAttr string
	// GroupBaseDN is where groups are searched (GroupsSearch, ListGroups);
	// default BaseDN.
	GroupBaseDN string
	// GroupFilter finds the user's groups (GroupsSearch); it must contain
	// {dn} or {username}. Default DefaultGroupFilter; ADNestedGroupFilter
	// for Active Directory with nested groups.
	GroupFilter string
	// GroupListFilter selects the groups ListGroups returns. Default
	// DefaultGroupListFilter.
	GroupListFilter string
	// GroupNameAttr names a group (default "cn"; the DN's first value when
	// missing).
	GroupNameAttr string

	// Timeout bounds one call, connection included. Default DefaultTimeout.
	Timeout time.Duration
}

// withDefaults fills the empty fields with their defaults.
func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if strings.TrimSpace(*s) == "" {
			*s = v
		}
	}
	def(&c.UserFilter, DefaultUserFilter)
	def(&c.UsernameAttr, "uid")
	def(&c.EmailAttr, "mail")
	def(&c.DisplayNameAttr, "displayName")
	def(&c.MemberOfAttr, "memberOf")
	def(&c.GroupBaseDN, c.BaseDN)
	def(&c.GroupFilter, DefaultGroupFilter)
	def(&c.GroupListFilter, DefaultGroupListFilter)
	def(&c.GroupNameAttr, "cn")
	if c.GroupMode == "" {
		c.GroupMode = GroupsSearch
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// attribute descriptions: a name with options (RFC 4512) or an OID.
var attrRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// Validate reports every problem of the configuration (defaults applied),
// one line each, prefixed "ldapauth: config: FIELD".
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate returns the parsed parts New needs.
func (c Config) validate() (target, error) {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ldapauth: config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	var t target

	switch d := c.Domain; {
	case strings.TrimSpace(d) == "":
		bad("Domain", "required (what users type before the backslash)")
	case len(d) > 64:
		bad("Domain", "longer than 64 bytes")
	case strings.ContainsAny(d, `\/@`) || strings.IndexFunc(d, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		bad("Domain", "%q: no spaces, control characters, \\, / or @", d)
	}

	if u, err := url.Parse(c.URL); strings.TrimSpace(c.URL) == "" {
		bad("URL", "required (ldap://host or ldaps://host)")
	} else if err != nil {
		bad("URL", "%v", err)
	} else {
		switch u.Scheme {
		case "ldap":
			t.port = "389"
		case "ldaps":
			t.port, t.tls = "636", true
		default:
			bad("URL", "%q: the scheme must be ldap or ldaps", c.URL)
		}
		t.host = u.Hostname()
		if t.host == "" {
			bad("URL", "%q: no host", c.URL)
		}
		if p := u.Port(); p != "" {
			t.port = p
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad("URL", "%q: only scheme, host and port (put the base in BaseDN)", c.URL)
		}
		if c.StartTLS && u.Scheme == "ldaps" {
			bad("StartTLS", "is for ldap:// URLs; ldaps:// is TLS already")
		}
	}
	if len(c.RootCAs) > 0 {
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM(c.RootCAs) {
			bad("RootCAs", "no PEM certificate in it")
		}
	}

	if c.BindDN == "" && c.BindPassword != "" {
		bad("BindDN", "required with BindPassword")
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			bad("BindDN", "%q: %v", c.BindDN, err)
		}
		if c.BindPassword == "" {
			// An empty password makes a simple bind unauthenticated: it
			// "succeeds" as anonymous.
			bad("BindPassword", "required with BindDN")
		}
	}
	checkDN := func(field, dn string) {
		if strings.TrimSpace(dn) == "" {
			bad(field, "required")
		} else if _, err := ldap.ParseDN(dn); err != nil {
			bad(field, "%q: %v", dn, err)
		}
	}
	checkDN("BaseDN", c.BaseDN)
	checkFilter := func(field, f string, placeholders ...string) {
		has := len(placeholders) == 0
		for _, p := range placeholders {
			has = has || strings.Contains(f, p)
		}
		if !has {
			bad(field, "%q must contain %s", f, strings.Join(placeholders, " or "))
			return
		}
		r := strings.NewReplacer("{username}", "x", "{dn}", "cn=x")
		if _, err := ldap.CompileFilter(r.Replace(f)); err != nil {
			bad(field, "%q: %v", f, err)
		}
	}
	checkFilter("UserFilter", c.UserFilter, "{username}")
	for field, a := range map[string]string{"UsernameAttr": c.UsernameAttr, "EmailAttr": c.EmailAttr,
		"DisplayNameAttr": c.DisplayNameAttr, "MemberOfAttr": c.MemberOfAttr, "GroupNameAttr": c.GroupNameAttr} {
		if !attrRE.MatchString(a) {
			bad(field, "%q is not an attribute name", a)
		}
	}
	switch c.GroupMode {
	case GroupsMemberOf, GroupsNone:
	case GroupsSearch:
		checkFilter("GroupFilter", c.GroupFilter, "{dn}", "{username}")
	default:
		bad("GroupMode", "%q: want %q, %q or %q", c.GroupMode, GroupsMemberOf, GroupsSearch, GroupsNone)
	}
	if c.GroupBaseDN != "" {
		checkDN("GroupBaseDN", c.GroupBaseDN)
	}
	checkFilter("GroupListFilter", c.GroupListFilter)
	if c.Timeout < 0 {
		bad("Timeout", "negative")
	}
	if len(errs) > 0 {
		return target{}, errors.Join(errs...)
	}
	t.addr = net.JoinHostPort(t.host, t.port)
	return t, nil
}

// target is where and how to connect, parsed from the URL.
type target struct {
	host, port, addr string
	tls              bool // ldaps
	roots            *x509.CertPool
}
