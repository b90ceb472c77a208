package relayurl

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://relay.example.com", false, true},
		{"wss://relay.example.com/x", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.9.9.9", false, true},
		{"http://localhost:8080", false, true},
		{"http://LOCALHOST.", false, true},
		{"http://relay.localhost", false, true},
		{"http://[::1]:8080", false, true},
		{"http://[::ffff:127.0.0.1]:8080", false, true},
		{"ws://127.0.0.1/api", false, true},
		{"http://relay.example.com", false, false},
		{"http://10.0.0.5:8080", false, false},
		{"http://192.168.1.2", false, false},
		{"ws://relay.example.com", false, false},
		{"http://localhost.evil.example", false, false},
		{"http://127.0.0.1.nip.io", false, false},
		{"http://relay.example.com", true, true},
		{"ftp://relay.example.com", true, false},
		{"relay.example.com", true, false},
		{"", true, false},
	} {
		err := Check(c.url, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q, %v) = %v, want ok=%v", c.url, c.insecure, err, c.ok)
		}
	}
	err := Check("http://user:secret@relay.example.com", false)
	if !errors.Is(err, ErrInsecure) || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "--insecure-http") {
		t.Fatalf("error %v: want ErrInsecure, naming the flag, without the password", err)
	}
}

func TestAllowWarns(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if err := Allow("http://relay.example.com", true, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "plain http") {
		t.Fatalf("no warning: %q", buf.String())
	}
	buf.Reset()
	for _, u := range []string{"https://relay.example.com", "http://127.0.0.1:8080"} {
		if err := Allow(u, true, log); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("warned for a safe relay: %q", buf.String())
	}
	if err := Allow("http://relay.example.com", false, log); !errors.Is(err, ErrInsecure) {
		t.Fatalf("Allow without the flag: %v", err)
	}
}
