package setupname

import (
	"strings"
	"testing"
)

const key = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"

func TestRoundTrip(t *testing.T) {
	for _, relay := range []string{"https://relay.example.com", "http://127.0.0.1:8080", "https://[::1]:8443"} {
		for _, ext := range []string{"exe", "pkg"} {
			n, err := Name(relay, key, ext)
			if err != nil {
				t.Fatalf("Name(%q): %v", relay, err)
			}
			if strings.ContainsAny(n, `/\:*?"<>| `) || len(n) > 255 {
				t.Fatalf("%q is not a portable file name", n)
			}
			for _, got := range []string{n, strings.TrimSuffix(n, "."+ext) + " (1)." + ext, strings.TrimSuffix(n, "."+ext) + "(12)." + ext} {
				r, k, ok := Parse(got)
				if !ok || r != relay || k != key {
					t.Fatalf("Parse(%q) = %q, %q, %v; want %q, %q", got, r, k, ok, relay, key)
				}
			}
		}
	}
}

func TestNameRefuses(t *testing.T) {
	for _, c := range []struct{ relay, key, ext string }{
		{"ftp://relay", key, "exe"},
		{"https://relay/path", key, "exe"},
		{"https://user:pw@relay", key, "exe"},
		{"https://relay?x=1", key, "exe"},
		{"https://" + strings.Repeat("a", MaxRelayURL), key, "exe"},
		{"https://relay", "not a key", "exe"},
		{"https://relay", "abcd-efgh", "exe"}, // keys are issued upper-case
		{"https://relay", key, "sh"},
	} {
		if n, err := Name(c.relay, c.key, c.ext); err == nil {
			t.Errorf("Name(%q, %q, %q) = %q, want an error", c.relay, c.key, c.ext, n)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := Name("https://relay.example.com", key, "exe")
	for _, n := range []string{
		"",
		"tandem-host.exe",
		"setup.exe",
		strings.Replace(good, Prefix, "tandem-host-", 1),
		strings.Replace(good, "_"+key, "_"+strings.ToLower(key), 1),
		strings.Replace(good, "_"+key, "_ABCD", 1),
		strings.Replace(good, ".exe", ".exe.txt", 1),
		strings.Replace(good, ".exe", " - Copy.exe", 1),
		Prefix + "1111_" + key + ".exe", // not base32
		Prefix + enc.EncodeToString([]byte("file:///etc/passwd")) + "_" + key + ".exe",
		Prefix + enc.EncodeToString([]byte("https://relay/../x")) + "_" + key + ".exe",
		"dir/" + good,
	} {
		if r, k, ok := Parse(n); ok {
			t.Errorf("Parse(%q) = %q, %q, true; want false", n, r, k)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Name("https://relay.example.com", key, "exe")
	f.Add(good)
	f.Add(Prefix + "a_" + key + ".pkg")
	f.Fuzz(func(t *testing.T, name string) {
		r, k, ok := Parse(name)
		if !ok {
			return
		}
		ext := name[strings.LastIndexByte(name, '.')+1:]
		again, err := Name(r, k, ext)
		if err != nil {
			t.Fatalf("Parse(%q) accepted %q, %q that Name refuses: %v", name, r, k, err)
		}
		if r2, k2, ok := Parse(again); !ok || r2 != r || k2 != k {
			t.Fatalf("round trip of %q failed", name)
		}
	})
}
