package guest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/internal/launchlink"
)

const linkDevice = "0190f3c2-7a4b-7c3d-9e8f-0123456789ab"

// TestCheckLink: the relay logged in to is followed without a question;
// another relay (or none) only after a yes; hostile links never reach the
// question.
func TestCheckLink(t *testing.T) {
	st := &State{Relay: "https://relay.example.com", Token: "t"}
	asked := 0
	no := func(string) bool { asked++; return false }
	yes := func(string) bool { asked++; return true }
	l, err := CheckLink(launchlink.Build("https://relay.example.com", linkDevice), st, no)
	if err != nil || asked != 0 || l.Device != linkDevice {
		t.Fatalf("own relay: %+v %v, asked %d", l, err, asked)
	}
	if _, err := CheckLink(launchlink.Build("https://evil.example", linkDevice), st, no); err == nil || asked != 1 {
		t.Fatalf("another relay, answered no: %v, asked %d", err, asked)
	}
	if l, err := CheckLink(launchlink.Build("https://evil.example", linkDevice), st, yes); err != nil || l.Relay != "https://evil.example" {
		t.Fatalf("another relay, answered yes: %+v %v", l, err)
	}
	if _, err := CheckLink(launchlink.Build("https://relay.example.com", linkDevice), &State{}, no); err == nil {
		t.Fatal("not logged in anywhere: followed without asking")
	}
	asked = 0
	if _, err := CheckLink("tandem://connect?relay=https%3A%2F%2Fr.example&device=x&exec=calc", st, yes); err == nil || asked != 0 {
		t.Fatalf("a hostile link: %v, asked %d", err, asked)
	}
}

func TestAskYes(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, "\n": false, "": false, "no\n": false, "yy\n": false,
		strings.Repeat("y", 100): false} {
		var out bytes.Buffer
		if got := AskYes(strings.NewReader(in), &out)("Connect? "); got != want || out.String() != "Connect? " {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}
