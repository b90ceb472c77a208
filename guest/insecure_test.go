package guest

import (
	"errors"
	"testing"

	"github.com/tandem-rc/tandem/internal/relayurl"
)

// The Guest sends no password or token to a plain-http relay off this
// machine unless --insecure-http (remembered by login).
func TestGuestRefusesPlainHTTPRelay(t *testing.T) {
	if _, err := NewClient("http://relay.example.invalid", ""); !errors.Is(err, relayurl.ErrInsecure) {
		t.Fatalf("NewClient: %v, want ErrInsecure", err)
	}
	for _, ok := range []string{"https://relay.example.invalid", "http://127.0.0.1:8080", "http://localhost:8080"} {
		if _, err := NewClient(ok, ""); err != nil {
			t.Errorf("NewClient(%s): %v", ok, err)
		}
	}
	if _, err := NewClientWith("http://relay.example.invalid", "", true); err != nil {
		t.Fatalf("NewClientWith insecure: %v", err)
	}

	dir := t.TempDir()
	t.Setenv("TANDEM_PASSWORD", "Correct-Horse-9")
	rc := Command()
	rc.SetArgs([]string{"login", "--config", dir, "--relay", "http://relay.example.invalid", "--user", "a@example.com"})
	if err := rc.Execute(); !errors.Is(err, relayurl.ErrInsecure) {
		t.Fatalf("login: %v, want ErrInsecure", err)
	}
	// A state saved by an insecure login is honoured; one without the
	// choice is refused before any call.
	if err := SaveState(dir, &State{Relay: "http://relay.example.invalid", Email: "a@example.com", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	rc = Command()
	rc.SetArgs([]string{"devices", "--config", dir})
	if err := rc.Execute(); !errors.Is(err, relayurl.ErrInsecure) {
		t.Fatalf("devices: %v, want ErrInsecure", err)
	}
}
