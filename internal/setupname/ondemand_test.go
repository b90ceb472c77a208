package setupname

import (
	"strings"
	"testing"
)

func TestOnDemandRoundTrip(t *testing.T) {
	for _, relay := range []string{"https://relay.example.com", "http://127.0.0.1:8080"} {
		for _, ext := range []string{"exe", ""} {
			n, err := OnDemandName(relay, "613220463", ext)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(n, `/\:*?"<>| `) || !strings.HasPrefix(n, "tandem-ondemand_") {
				t.Fatalf("%q is not a portable OnDemand name", n)
			}
			dot := ""
			if ext != "" {
				dot = "." + ext
			}
			for _, got := range []string{n, strings.TrimSuffix(n, dot) + " (1)" + dot} {
				r, k, ok := ParseOnDemand(got)
				if !ok || r != relay || k != "613220463" {
					t.Fatalf("ParseOnDemand(%q) = %q, %q, %v", got, r, k, ok)
				}
			}
			// Neither kind of name passes for the other.
			if _, _, ok := Parse(n); ok {
				t.Fatalf("Parse accepted the OnDemand name %q", n)
			}
		}
	}
}

func TestOnDemandRefuses(t *testing.T) {
	for _, c := range []struct{ relay, key, ext string }{
		{"ftp://relay", "613220463", "exe"},
		{"https://relay", "61322046a", "exe"},
		{"https://relay", "123", "exe"},
		{"https://relay", "613-220-463", "exe"},
		{"https://relay", "613220463", "pkg"},
	} {
		if n, err := OnDemandName(c.relay, c.key, c.ext); err == nil {
			t.Errorf("OnDemandName(%q, %q, %q) = %q, want an error", c.relay, c.key, c.ext, n)
		}
	}
	good, _ := OnDemandName("https://relay.example.com", "613220463", "exe")
	inst, _ := Name("https://relay.example.com", key, "exe")
	for _, n := range []string{"", "tandem-ondemand.exe", inst, good + ".txt", "dir/" + good,
		strings.Replace(good, "613220463", "61322046x", 1)} {
		if _, _, ok := ParseOnDemand(n); ok {
			t.Errorf("ParseOnDemand(%q) accepted", n)
		}
	}
}
