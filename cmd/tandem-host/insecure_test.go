package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"testing"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relayurl"
	"github.com/tandem-rc/tandem/internal/setupname"
)

func execHost(ctx context.Context, args ...string) error {
	rc := root()
	rc.SetArgs(args)
	return rc.ExecuteContext(ctx)
}

// A plain-http relay off this machine is refused before anything is sent
// to it (the enrollment key included), unless --insecure-http.
func TestHostRefusesPlainHTTPRelay(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"enroll", "install"} {
		err := execHost(context.Background(), cmd, "--config", dir, "--relay", "http://relay.example.invalid:8080", "--key", "k")
		if !errors.Is(err, relayurl.ErrInsecure) {
			t.Errorf("%s with an http relay: %v, want ErrInsecure", cmd, err)
		}
	}
	// The online installer's name carries the URL: same check.
	name, err := setupname.Name("http://10.1.2.3:8080", "ABCD-EFGH-IJKL", "exe")
	if err != nil {
		t.Fatal(err)
	}
	err = execHost(context.Background(), "enroll", "--config", dir, "--installer-name", name)
	if !errors.Is(err, relayurl.ErrInsecure) {
		t.Errorf("enroll from an installer name with an http relay: %v", err)
	}

	// A saved configuration with such a relay does not run without the
	// saved (or given) choice.
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	c := &installer.Config{RelayURL: "http://relay.example.invalid:8080", DeviceID: "d1", State: "enrolled",
		RelayPublicKey: base64.StdEncoding.EncodeToString(pub), Key: key}
	if err := installer.Save(dir, c); err != nil {
		t.Fatal(err)
	}
	if err := execHost(context.Background(), "run", "--config", dir); !errors.Is(err, relayurl.ErrInsecure) {
		t.Fatalf("run with a saved http relay: %v, want ErrInsecure", err)
	}
	// Accepted with the flag, or with the choice saved at enrollment.
	log := slog.New(slog.DiscardHandler)
	if err := checkRelay(c, true, log); err != nil {
		t.Fatalf("run --insecure-http: %v", err)
	}
	if err := saveInsecure(dir, c, true); err != nil {
		t.Fatal(err)
	}
	saved, err := installer.Load(dir)
	if err != nil || !saved.InsecureHTTP {
		t.Fatalf("the choice is not saved: %+v %v", saved, err)
	}
	if err := checkRelay(saved, false, log); err != nil {
		t.Fatalf("run with the saved choice: %v", err)
	}
}
