package sso

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// idToken runs a real code flow at the provider (mockoidc on loopback)
// and returns the flow and the raw ID token the IdP issued for it.
func idToken(t *testing.T, idp *mockoidc.MockOIDC, f *Flows, cfg Config, user *mockoidc.MockUser) (Flow, string) {
	t.Helper()
	ctx := context.Background()
	idp.QueueUser(user)
	redirect := "http://127.0.0.1:1/cb"
	au, err := f.Begin(ctx, "m1", cfg, redirect, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(au)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	fl, err := f.Take(ctx, loc.Query().Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.provider(ctx, cfg.Issuer)
	tok, err := oauthConfig(p, cfg, redirect).Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(fl.verifier))
	if err != nil {
		t.Fatal(err)
	}
	return fl, tok.Extra("id_token").(string)
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Shutdown()
	clk := &clock{t: time.Now()}
	f := NewFlows(8, 10*time.Minute, clk.now, nil)
	cfg := Config{Domain: "corp", Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, Scopes: []string{"groups"}}
	user := &mockoidc.MockUser{Subject: "s-1", Email: "a@corp.example", EmailVerified: true, PreferredUsername: "ann", Groups: []string{"ops", "dev"}}
	fl, raw := idToken(t, idp, f, cfg, user)
	ctx := context.Background()

	id, err := f.Verify(ctx, fl, cfg, raw)
	if err != nil || id.Subject != "s-1" || id.Email != "a@corp.example" || strings.Join(id.Groups, ",") != "ops,dev" {
		t.Fatalf("good token: %+v %v", id, err)
	}
	parts := strings.Split(raw, ".")
	flip := func(s string) string {
		b := []byte(s)
		b[len(b)/2] ^= 1
		return string(b)
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	otherSub := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), `"s-1"`, `"s-2"`, 1)))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	wrongAud := cfg
	wrongAud.ClientID = "someone-else"
	wrongNonce := fl
	wrongNonce.nonce = "not-the-nonce"
	later := &clock{t: clk.now().Add(2 * time.Hour)}
	for name, c := range map[string]struct {
		f   *Flows
		fl  Flow
		cfg Config
		raw string
	}{
		"tampered signature": {f, fl, cfg, parts[0] + "." + parts[1] + "." + flip(parts[2])},
		"tampered claims":    {f, fl, cfg, parts[0] + "." + otherSub + "." + parts[2]},
		"unsigned":           {f, fl, cfg, none + "." + parts[1] + "."},
		"wrong audience":     {f, fl, wrongAud, raw},
		"wrong nonce":        {f, wrongNonce, cfg, raw},
		"expired":            {NewFlows(8, time.Minute, later.now, nil), fl, cfg, raw},
		"garbage":            {f, fl, cfg, "x.y.z"},
	} {
		if _, err := c.f.Verify(ctx, c.fl, c.cfg, c.raw); !errors.Is(err, ErrToken) {
			t.Errorf("%s: %v, want ErrToken", name, err)
		}
	}
}

func TestFlowsBoundedSingleUse(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Shutdown()
	clk := &clock{t: time.Now()}
	f := NewFlows(2, 10*time.Minute, clk.now, nil)
	cfg := Config{Issuer: idp.Issuer(), ClientID: idp.ClientID}
	ctx := context.Background()
	state := func(u string) string { p, _ := url.Parse(u); return p.Query().Get("state") }
	a, err := f.Begin(ctx, "m", cfg, "http://127.0.0.1:1/cb", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Begin(ctx, "m", cfg, "http://127.0.0.1:1/cb", ""); err != nil {
		t.Fatal(err)
	}
	// Full: no third flow while the two live.
	if _, err := f.Begin(ctx, "m", cfg, "http://127.0.0.1:1/cb", ""); !errors.Is(err, ErrFull) {
		t.Fatalf("third flow: %v, want ErrFull", err)
	}
	if _, err := f.Take(ctx, state(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Take(ctx, state(a)); !errors.Is(err, ErrState) {
		t.Fatalf("state taken twice: %v", err)
	}
	b, err := f.Begin(ctx, "m", cfg, "http://127.0.0.1:1/cb", "")
	if err != nil {
		t.Fatal(err)
	}
	// Expired flows are refused, and make room.
	clk.add(11 * time.Minute)
	if _, err := f.Take(ctx, state(b)); !errors.Is(err, ErrState) {
		t.Fatalf("expired state: %v", err)
	}
	for range 2 {
		if _, err := f.Begin(ctx, "m", cfg, "http://127.0.0.1:1/cb", ""); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
	}
	if f.Len() != 2 {
		t.Fatalf("%d flows held, want 2", f.Len())
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []Config{
		{Issuer: "ftp://idp", ClientID: "x"}, {Issuer: "https://idp/?q=1", ClientID: "x"}, {Issuer: "https://idp"},
		{Issuer: "https://u:p@idp", ClientID: "x"}, {Issuer: "https://idp", ClientID: "x", Scopes: []string{"a b"}},
	} {
		if c.Check() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{Issuer: "https://login.example.com/tenant/v2.0", ClientID: "x"}).Check(); err != nil {
		t.Error(err)
	}
}
