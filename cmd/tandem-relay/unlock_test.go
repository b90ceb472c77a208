package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The owner, locked out by guessers from everywhere, is let back in by
// `tandem-relay admin user unlock` run next to the live relay.
func TestAdminUserUnlock(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "admin", "--data", dir, "init", "--owner", "boss@example.com", "--password", "Str0ngPass"); err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	login := func(from, pw string) int {
		b, _ := json.Marshal(wire.LoginRequest{Email: "boss@example.com", Password: pw})
		req := httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(b))
		req.RemoteAddr = from
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 10 {
		login("[2001:db8:"+string(rune('a'+i))+"::1]:4000", "Wr0ngPassword")
	}
	stranger := "[2001:db8:ff::1]:4000"
	for range 5 {
		login(stranger, "Wr0ngPassword")
	}
	if st := login(stranger, "Str0ngPass"); st != http.StatusTooManyRequests {
		t.Fatalf("a stranger who guessed: %d, want 429", st)
	}
	if st := login("[2001:db8:fe::1]:4000", "Str0ngPass"); st != http.StatusUnauthorized {
		t.Fatalf("the owner was not locked against strangers: %d", st)
	}
	out, _, err := run(t, "admin", "--data", dir, "user", "unlock", "Boss@Example.com")
	if err != nil || !strings.Contains(out, "unlocked boss@example.com") {
		t.Fatalf("unlock: %v\n%s", err, out)
	}
	if st := login(stranger, "Str0ngPass"); st != http.StatusOK {
		t.Fatalf("after the unlock: %d", st)
	}
	if _, _, err := run(t, "admin", "--data", dir, "user", "unlock", "ghost@example.com"); err == nil {
		t.Fatal("unlocking an unknown user succeeded")
	}
}
