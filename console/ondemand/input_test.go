package ondemand

import (
	"testing"

	"github.com/tandem-rc/tandem/internal/setupname"
)

func TestParseInput(t *testing.T) {
	for _, c := range []struct{ in, relay, key string }{
		{"613220463", "", "613220463"},
		{" 613 220 463 ", "", "613220463"},
		{"613-220-463", "", "613220463"},
		{"https://relay.example.com/s/613220463", "https://relay.example.com", "613220463"},
		{"http://127.0.0.1:8080/s/613220463/", "http://127.0.0.1:8080", "613220463"},
		{"https://example.com/tandem/s/613-220-463", "https://example.com/tandem", "613220463"},
	} {
		r, k, err := ParseInput(c.in)
		if err != nil || r != c.relay || k != c.key {
			t.Errorf("%q: %q %q %v", c.in, r, k, err)
		}
	}
	for _, in := range []string{"", "12345", "abc", "ftp://x/s/613220463", "https://relay.example.com/613220463",
		"https:///s/613220463", "https://relay.example.com/s/61322046"} {
		if r, k, err := ParseInput(in); err == nil {
			t.Errorf("%q accepted: %q %q", in, r, k)
		}
	}
}

func TestPrefill(t *testing.T) {
	name, err := setupname.OnDemandName("https://relay.example.com", "613220463", "exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ exe, key, relay, wantRelay, wantKey string }{
		{"/tmp/" + name, "", "", "https://relay.example.com", "613220463"},
		{"/tmp/" + name, "111 222 333", "https://other.example.com", "https://other.example.com", "111222333"},
		{"/usr/bin/tandem-ondemand", "https://r.example.com/s/111222333", "", "https://r.example.com", "111222333"},
		{"/usr/bin/tandem-ondemand", "https://r.example.com/s/111222333", "https://x.example.com", "https://x.example.com", "111222333"},
		{"/usr/bin/tandem-ondemand", "", "", "", ""},
		{"/usr/bin/tandem-ondemand", "12", "", "", "12"}, // kept for the user to fix
	} {
		r, k := Prefill(c.exe, c.key, c.relay)
		if r != c.wantRelay || k != c.wantKey {
			t.Errorf("Prefill(%q, %q, %q) = %q %q, want %q %q", c.exe, c.key, c.relay, r, k, c.wantRelay, c.wantKey)
		}
	}
}
