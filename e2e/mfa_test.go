package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestMFALoginThroughOutbox: with email MFA enforced, the guest's login
// takes two steps; the code arrives as a real .eml in the relay's outbox
// (the embedded default), and a wrong code is refused.
func TestMFALoginThroughOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outbox := t.TempDir()
	e := newEnvWith(t, relaytest.Outbox(t, outbox))
	owner := e.login(t)
	acct, err := e.srv.Store().AccountByName(ctx, "Acme IT")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(wire.Security{MFA: "enforced"})
	req, _ := http.NewRequestWithContext(ctx, "PUT", e.url+"/api/v1/accounts/"+acct.ID+"/security", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+owner.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("enforcing MFA: %d", resp.StatusCode)
	}

	c, err := guest.NewClient(e.url, "")
	if err != nil {
		t.Fatal(err)
	}
	lr, err := c.Login(ctx, ownerEmail, ownerPassword)
	if err != nil || !lr.MFARequired || lr.Challenge == "" || c.Token != "" {
		t.Fatalf("first step: %+v %v", lr, err)
	}
	code := codeFromOutbox(t, outbox)
	if _, err := c.LoginMFA(ctx, lr.Challenge, "000000"); err == nil && code != "000000" {
		t.Fatal("a wrong code was accepted")
	}
	lr, err = c.LoginMFA(ctx, lr.Challenge, code)
	if err != nil || c.Token == "" {
		t.Fatalf("second step: %+v %v", lr, err)
	}
	if _, err := c.Devices(ctx); err != nil {
		t.Fatalf("the token does not work: %v", err)
	}
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// codeFromOutbox reads the one .eml in dir addressed to the owner and
// returns the six-digit code of its text part.
func codeFromOutbox(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ".eml") {
		t.Fatalf("outbox: %v %v", ents, err)
	}
	f, err := os.Open(filepath.Join(dir, ents[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, ownerEmail) {
		t.Fatalf("mail to %q", to)
	}
	text := readText(t, m)
	match := sixDigits.FindStringSubmatch(text)
	if match == nil {
		t.Fatalf("no code in:\n%s", text)
	}
	return match[1]
}

func readText(t *testing.T, m *mail.Message) string { return relaytest.MailText(t, m) }
