package launchlink

import (
	"errors"
	"strings"
	"testing"
)

const dev = "0190f3c2-7a4b-7c3d-9e8f-0123456789ab"

func TestBuildParse(t *testing.T) {
	for _, relay := range []string{"https://relay.example.com", "https://relay.example.com/", "http://127.0.0.1:8080", "https://[::1]:8443"} {
		l, err := Parse(Build(relay, dev))
		if err != nil || l.Device != dev || l.Relay != strings.TrimSuffix(relay, "/") {
			t.Errorf("%s: %+v %v", relay, l, err)
		}
	}
	if l, err := Parse("tandem://connect/?relay=HTTPS://Relay.Example.com&device=" + dev); err != nil || l.Relay != "https://relay.example.com" {
		t.Errorf("case: %+v %v", l, err)
	}
}

// TestParseRefusesHostileLinks: what a hostile page could put in a
// tandem:// link is refused whole.
func TestParseRefusesHostileLinks(t *testing.T) {
	ok := "tandem://connect?relay=https%3A%2F%2Frelay.example.com&device=" + dev
	if _, err := Parse(ok); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"",
		"http://connect?relay=https%3A%2F%2Fr.example&device=" + dev,
		"tandem:connect?relay=https%3A%2F%2Fr.example&device=" + dev,        // opaque
		"tandem://evil?relay=https%3A%2F%2Fr.example&device=" + dev,         // another action
		"tandem://user@connect?relay=https%3A%2F%2Fr.example&device=" + dev, // userinfo
		"tandem://connect:99?relay=https%3A%2F%2Fr.example&device=" + dev,   // a port
		"tandem://connect/x?relay=https%3A%2F%2Fr.example&device=" + dev,    // a path
		ok + "#frag",                                     // fragment
		ok + "&device=" + dev,                            // repeated
		ok + "&exec=calc",                                // extra parameter
		ok + "&config=%2Ftmp%2Fevil",                     // a flag smuggled in
		"tandem://connect?device=" + dev,                 // no relay
		"tandem://connect?relay=https%3A%2F%2Fr.example", // no device
		"tandem://connect?relay=https%3A%2F%2Fr.example&device=..%2F..%2Fetc",  // not an id
		"tandem://connect?relay=https%3A%2F%2Fr.example&device=" + dev + "%0A", // newline
		"tandem://connect?relay=https%3A%2F%2Fr.example&device=" + strings.ToUpper(dev),
		"tandem://connect?relay=file%3A%2F%2F%2Fetc%2Fpasswd&device=" + dev, // not http(s)
		"tandem://connect?relay=javascript%3Aalert(1)&device=" + dev,
		"tandem://connect?relay=https%3A%2F%2Fu%3Ap%40r.example&device=" + dev,    // credentials
		"tandem://connect?relay=https%3A%2F%2Fr.example%2Fapi&device=" + dev,      // a path
		"tandem://connect?relay=https%3A%2F%2Fr.example%3Fx%3D1&device=" + dev,    // a query
		"tandem://connect?relay=https%3A%2F%2Fr.example%23x&device=" + dev,        // a fragment
		"tandem://connect?relay=https%3A%2F%2Fr.example%3A99999999&device=" + dev, // a port
		"tandem://connect?relay=https%3A%2F%2F%3A443&device=" + dev,               // no host
		"tandem://connect?relay=https%3A%2F%2Fr.example%5C%40evil&device=" + dev,  // backslash
		"tandem://connect?relay=https%3A%2F%2Fr.example&device=" + dev + "&relay=https%3A%2F%2Fevil",
		"tandem://connect?relay=%zz&device=" + dev,
		"tandem://connect?relay=https://r.example&device=" + dev + " --config=/tmp", // a space
		"tandem://connect?relay=https%3A%2F%2Fr\u00e9.example&device=" + dev,        // non-ASCII
		"tandem://connect?relay=https%3A%2F%2F" + strings.Repeat("a", MaxLen) + "&device=" + dev,
	} {
		if l, err := Parse(raw); !errors.Is(err, ErrRefused) {
			t.Errorf("%q: accepted as %+v (%v)", raw, l, err)
		}
	}
}

func TestSameRelay(t *testing.T) {
	if !SameRelay("https://R.example/", "https://r.example") || SameRelay("https://r.example", "http://r.example") ||
		SameRelay("https://r.example", "https://r.example:8443") || SameRelay("", "") {
		t.Fatal("SameRelay")
	}
}
