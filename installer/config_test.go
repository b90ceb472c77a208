package installer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/transport/wire"
)

func newConfig(t *testing.T) *Config {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return &Config{RelayURL: "https://relay.example.com", DeviceID: "dev-1", AccountID: "acct", State: "enrolled",
		RelayPublicKey: base64.StdEncoding.EncodeToString(pub), Key: key}
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	if _, err := Load(dir); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("Load of an empty dir: %v", err)
	}
	c := newConfig(t)
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceID != c.DeviceID || !got.Key.Equal(c.Key) || got.RelayPublicKey != c.RelayPublicKey {
		t.Fatalf("round trip: %+v", got)
	}
	for _, f := range []string{ConfigFile, KeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v (%v)", f, st.Mode(), err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if strings.Contains(string(raw), base64.StdEncoding.EncodeToString(c.Key.Seed())) {
		t.Fatal("the private key leaked into host.json")
	}
}

func TestLoadCorrupt(t *testing.T) {
	for name, mutate := range map[string]func(dir string){
		"config not JSON":  func(d string) { os.WriteFile(filepath.Join(d, ConfigFile), []byte("{"), 0o600) },
		"no device id":     func(d string) { os.WriteFile(filepath.Join(d, ConfigFile), []byte(`{"relay_url":"x"}`), 0o600) },
		"key not base64":   func(d string) { os.WriteFile(filepath.Join(d, KeyFile), []byte("!!!"), 0o600) },
		"key wrong length": func(d string) { os.WriteFile(filepath.Join(d, KeyFile), []byte("AAAA"), 0o600) },
		"key missing":      func(d string) { os.Remove(filepath.Join(d, KeyFile)) },
		"relay key bad": func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, ConfigFile))
			var m map[string]any
			json.Unmarshal(b, &m)
			m["relay_public_key"] = "short"
			b, _ = json.Marshal(m)
			os.WriteFile(filepath.Join(d, ConfigFile), b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Save(dir, newConfig(t)); err != nil {
				t.Fatal(err)
			}
			mutate(dir)
			_, err := Load(dir)
			if err == nil || errors.Is(err, ErrNotEnrolled) {
				t.Fatalf("Load = %v, want a corruption error", err)
			}
			if !strings.Contains(err.Error(), "enroll") && !strings.Contains(err.Error(), "corrupt") && !strings.Contains(err.Error(), "device key") {
				t.Fatalf("error does not say what to do: %v", err)
			}
		})
	}
}

// A relay stand-in on 127.0.0.1 answering the enrollment call; the real
// relay is exercised by the e2e tests.
func fakeEnroll(t *testing.T, relayKey ed25519.PublicKey) (*httptest.Server, *[]wire.EnrollRequest) {
	var seen []wire.EnrollRequest
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wire.EnrollRequest
		json.NewDecoder(r.Body).Decode(&req)
		seen = append(seen, req)
		if req.Key != "GOOD-KEY" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(wire.APIError{Error: wire.APIErrorBody{Code: "invalid_key", Message: "this enrollment key is not valid"}})
			return
		}
		json.NewEncoder(w).Encode(wire.EnrollResponse{DeviceID: "dev-" + req.PublicKey[:6], AccountID: "a", State: "enrolled",
			RelayPublicKey: base64.StdEncoding.EncodeToString(relayKey)})
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestEnroll(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	srv, seen := fakeEnroll(t, pub)
	dir := t.TempDir()
	ctx := context.Background()

	if _, err := Enroll(ctx, nil, srv.URL, "BAD", dir, nil); !errors.Is(err, ErrEnrollmentRefused) || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrNotEnrolled) {
		t.Fatal("a refused enrollment wrote a config")
	}
	c1, err := Enroll(ctx, nil, srv.URL+"/", " GOOD-KEY ", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Re-enrolling keeps the device identity (same public key sent).
	c2, err := Enroll(ctx, nil, srv.URL, "GOOD-KEY", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Key.Equal(c2.Key) || (*seen)[1].PublicKey != (*seen)[2].PublicKey {
		t.Fatal("re-enrollment generated a new identity")
	}
	if c1.RelayURL != srv.URL {
		t.Fatalf("relay URL not normalised: %q", c1.RelayURL)
	}
	for _, u := range []string{"", "ftp://x", "relay.example.com", "http://"} {
		if _, err := Enroll(ctx, nil, u, "GOOD-KEY", t.TempDir(), nil); err == nil {
			t.Fatalf("relay URL %q accepted", u)
		}
	}
}

// identityFiles reads what a host's identity is made of, to check that a
// refused enrollment changed nothing.
func identityFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range []string{ConfigFile, KeyFile, StateFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		m[f] = string(b)
	}
	return m
}

// TestEnrollKeepsPinnedRelayKey: enrolling again at the same relay URL
// with an answer that carries another relay key is refused and leaves the
// identity files as they were; the same key is accepted; another URL is a
// move the operator chose.
func TestEnrollKeepsPinnedRelayKey(t *testing.T) {
	pinned, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	real, _ := fakeEnroll(t, pinned)
	impostor, seen := fakeEnroll(t, other)
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Enroll(ctx, nil, real.URL, "GOOD-KEY", dir, nil); err != nil {
		t.Fatal(err)
	}
	// Whoever answers the same URL now (here: the same config, pointed at
	// the impostor's address as if DNS or a proxy sent us there).
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.RelayURL = impostor.URL
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	before := identityFiles(t, dir)
	_, err = Enroll(ctx, nil, impostor.URL, "GOOD-KEY", dir, nil)
	var kc *RelayKeyChangedError
	if !errors.As(err, &kc) || !kc.RelayKeyChanged() || kc.Got != base64.StdEncoding.EncodeToString(other) {
		t.Fatalf("enrollment answered with another relay key: %v", err)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d enrollment calls", len(*seen))
	}
	if after := identityFiles(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("identity files changed:\n%v\n%v", before, after)
	}

	// The pinned key again: accepted, same identity.
	c.RelayURL = real.URL
	if err := Save(dir, c); err != nil {
		t.Fatal(err)
	}
	c2, err := Enroll(ctx, nil, real.URL, "GOOD-KEY", dir, nil)
	if err != nil || !c2.Key.Equal(c.Key) || c2.RelayPublicKey != c.RelayPublicKey {
		t.Fatalf("re-enrollment with the pinned key: %+v, %v", c2, err)
	}
	// Another relay URL given by the operator: a move, its key is pinned.
	moved, err := Enroll(ctx, nil, impostor.URL+"/", "GOOD-KEY", dir, nil)
	if err != nil || moved.RelayPublicKey != base64.StdEncoding.EncodeToString(other) {
		t.Fatalf("a move was refused or kept the old key: %+v, %v", moved, err)
	}
}
