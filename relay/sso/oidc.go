// Package sso is the relay's OpenID Connect relying party (issue 17): the
// authorization code flow with PKCE (S256), state and nonce, discovery
// and ID-token checks through go-oidc. It knows nothing of users or
// accounts: the relay maps the Identity it returns.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is one OIDC method's provider settings.
type Config struct {
	Domain       string   `json:"domain"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	GroupsClaim  string   `json:"groups_claim,omitempty"` // default "groups"
	Scopes       []string `json:"scopes,omitempty"`       // asked besides openid, profile, email (e.g. groups)
}

// Check validates c without reaching the provider (it may be set up before
// the network path exists).
func (c Config) Check() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("issuer: want an http(s) URL without query or fragment")
	}
	if len(c.Scopes) > 16 || slices.ContainsFunc(c.Scopes, func(v string) bool { return v == "" || len(v) > 64 || strings.ContainsAny(v, " \t\r\n") }) {
		return errors.New("scopes: at most 16 words")
	}
	if c.ClientID == "" || len(c.ClientID) > 512 || len(c.ClientSecret) > 1024 || len(c.GroupsClaim) > 128 {
		return errors.New("client_id is required; client_id, client_secret or groups_claim too long")
	}
	return nil
}

// Identity is what a verified ID token says of its user.
type Identity struct {
	Subject     string
	Email       string // only when the IdP says it is verified
	DisplayName string
	Username    string
	Groups      []string
}

// Errors of Finish: the relay audits each refusal by its reason.
var (
	ErrState   = errors.New("sso: unknown, used or expired state")
	ErrRefused = errors.New("sso: the provider refused the sign-in")
	ErrToken   = errors.New("sso: ID token refused")
	ErrFull    = errors.New("sso: too many sign-ins under way")
)

// Flow is a sign-in under way: what the callback needs to finish it.
type Flow struct {
	Method   string // the relay's method id
	Domain   string
	Redirect string // the redirect_uri sent (the exchange repeats it)
	Next     string // where the Portal goes afterwards
	verifier string
	nonce    string
	expires  time.Time
}

// Pending keeps flows outside a node (the relay's database), so that a
// sign-in started on one node of a cluster finishes on any: Put records
// data under state until expires (an error wrapping ErrFull when the
// bound is reached), Take removes and returns it once (an error wrapping
// ErrState when it is unknown or expired).
type Pending interface {
	Put(ctx context.Context, state, data string, expires time.Time) error
	Take(ctx context.Context, state string) (string, error)
}

// flowData is a Flow as Pending keeps it.
type flowData struct {
	Method   string `json:"m"`
	Domain   string `json:"d"`
	Redirect string `json:"r"`
	Next     string `json:"n,omitempty"`
	Verifier string `json:"v"`
	Nonce    string `json:"o"`
}

// Flows holds sign-ins under way, bounded in number and age, each state
// usable once: in memory, or in a Pending store shared by the nodes.
type Flows struct {
	mu    sync.Mutex
	store Pending // nil: the map below
	m     map[string]Flow
	max   int
	ttl   time.Duration
	now   func() time.Time
	http  *http.Client
	provs map[string]*oidc.Provider // by issuer: discovery and keys, cached
}

// NewFlows keeps at most max flows for ttl each; now is the clock.
func NewFlows(max int, ttl time.Duration, now func() time.Time, client *http.Client) *Flows {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	return &Flows{m: map[string]Flow{}, max: max, ttl: ttl, now: now, http: client, provs: map[string]*oidc.Provider{}}
}

// UseStore keeps the flows in p instead of this node's memory (the bound
// is then p's).
func (f *Flows) UseStore(p Pending) { f.store = p }

func (f *Flows) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, f.http)
}

// provider discovers the issuer once (its keys refresh on their own).
func (f *Flows) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	f.mu.Lock()
	p := f.provs[issuer]
	f.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(f.ctx(ctx), issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discovery of %s: %w", issuer, err)
	}
	f.mu.Lock()
	if len(f.provs) < 1024 {
		f.provs[issuer] = p
	}
	f.mu.Unlock()
	return p, nil
}

func oauthConfig(p *oidc.Provider, c Config, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: redirect,
		Scopes: append([]string{oidc.ScopeOpenID, "profile", "email"}, c.Scopes...)}
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Begin starts a sign-in through method's provider: it returns the URL to
// send the browser to. ErrFull when the bound is reached (expired flows
// are dropped first).
func (f *Flows) Begin(ctx context.Context, method string, c Config, redirect, next string) (string, error) {
	p, err := f.provider(ctx, c.Issuer)
	if err != nil {
		return "", err
	}
	fl := Flow{Method: method, Domain: c.Domain, Redirect: redirect, Next: next, verifier: oauth2.GenerateVerifier(), nonce: random(), expires: f.now().Add(f.ttl)}
	state := random()
	if f.store != nil {
		raw, _ := json.Marshal(flowData{Method: fl.Method, Domain: fl.Domain, Redirect: fl.Redirect, Next: fl.Next, Verifier: fl.verifier, Nonce: fl.nonce})
		if err := f.store.Put(ctx, state, string(raw), fl.expires); err != nil {
			return "", err
		}
		return oauthConfig(p, c, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(fl.verifier), oidc.Nonce(fl.nonce)), nil
	}
	f.mu.Lock()
	if len(f.m) >= f.max {
		now := f.now()
		for k, v := range f.m {
			if !now.Before(v.expires) {
				delete(f.m, k)
			}
		}
	}
	if len(f.m) >= f.max {
		f.mu.Unlock()
		return "", ErrFull
	}
	f.m[state] = fl
	f.mu.Unlock()
	return oauthConfig(p, c, redirect).AuthCodeURL(state, oauth2.S256ChallengeOption(fl.verifier), oidc.Nonce(fl.nonce)), nil
}

// Take removes and returns state's flow: a state is good once, and only
// before it expires.
func (f *Flows) Take(ctx context.Context, state string) (Flow, error) {
	if f.store != nil {
		raw, err := f.store.Take(ctx, state)
		if err != nil {
			return Flow{}, err
		}
		var d flowData
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return Flow{}, fmt.Errorf("%w: %v", ErrState, err)
		}
		return Flow{Method: d.Method, Domain: d.Domain, Redirect: d.Redirect, Next: d.Next, verifier: d.Verifier, nonce: d.Nonce}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[state]
	if !ok {
		return Flow{}, ErrState
	}
	delete(f.m, state)
	if !f.now().Before(fl.expires) {
		return Flow{}, ErrState
	}
	return fl, nil
}

// Len is the number of flows held (for tests and metrics).
func (f *Flows) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// Finish exchanges the code of fl (with its PKCE verifier) and verifies
// the ID token: signature by the issuer's keys, issuer, audience, expiry
// (by f's clock) and the flow's nonce.
func (f *Flows) Finish(ctx context.Context, fl Flow, c Config, code string) (Identity, error) {
	p, err := f.provider(ctx, c.Issuer)
	if err != nil {
		return Identity{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tok, err := oauthConfig(p, c, fl.Redirect).Exchange(f.ctx(ctx), code, oauth2.VerifierOption(fl.verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: no id_token", ErrToken)
	}
	return f.Verify(ctx, fl, c, raw)
}

// Verify checks a raw ID token for fl (Finish's second half).
func (f *Flows) Verify(ctx context.Context, fl Flow, c Config, raw string) (Identity, error) {
	p, err := f.provider(ctx, c.Issuer)
	if err != nil {
		return Identity{}, err
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: f.now}).Verify(f.ctx(ctx), raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fl.nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce mismatch", ErrToken)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	id := Identity{Subject: idt.Subject, Username: str("preferred_username"), DisplayName: str("name")}
	if id.Subject == "" || len(id.Subject) > 255 {
		return Identity{}, fmt.Errorf("%w: bad subject", ErrToken)
	}
	if v, _ := claims["email_verified"].(bool); v {
		id.Email = str("email")
	}
	if id.DisplayName == "" {
		id.DisplayName = id.Username
	}
	gc := c.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	switch g := claims[gc].(type) {
	case string:
		id.Groups = []string{g}
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok && len(id.Groups) < 1000 {
				id.Groups = append(id.Groups, strings.TrimSpace(s))
			}
		}
	}
	return id, nil
}
