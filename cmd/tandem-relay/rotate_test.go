package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay"
)

// TestAdminRotateKey: rotate-key refuses a data directory no relay ran in
// (no key to hand over from), and otherwise prints the new key, which the
// relay signs with at its next start.
func TestAdminRotateKey(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "admin", "--data", dir, "rotate-key"); err == nil || !strings.Contains(err.Error(), "start the relay once") {
		t.Fatalf("rotate-key before any relay ran: %v", err)
	}
	srv, err := relay.New(relay.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	old := srv.PublicKeyString()
	srv.Close()
	out, _, err := run(t, "admin", "--data", dir, "rotate-key", "--valid-for", "720h")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "new" || f[3] == old {
		t.Fatalf("rotate-key printed %q", out)
	}
	if _, err := base64.StdEncoding.DecodeString(f[3]); err != nil {
		t.Fatalf("rotate-key printed %q", out)
	}
	srv, err = relay.New(relay.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.PublicKeyString() != f[3] {
		t.Fatalf("the relay signs with %s, want the rotated %s", srv.PublicKeyString(), f[3])
	}
}
