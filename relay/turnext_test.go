package relay

import (
	"strings"
	"testing"
	"time"
)

// External TURN server URLs: only turn:/turns: HOST:PORT with a transport
// a peer can use; anything else is refused at start.
func TestExternalTURNURLs(t *testing.T) {
	for _, u := range []string{"turn:turn.example.com:3478", "turn:192.0.2.7:3478?transport=udp",
		"turn:[2001:db8::1]:3478?transport=tcp", "turns:turn.example.com:5349?transport=tcp", "turns:turn.example.com:443"} {
		if err := checkExternalTURN([]string{u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"", "stun:turn.example.com:3478", "turn:turn.example.com", "turn::3478",
		"turn:turn.example.com:0", "turn:turn.example.com:70000", "turns:turn.example.com:5349?transport=udp",
		"turn:turn.example.com:3478?transport=sctp", "turn:user@turn.example.com:3478", "turn:turn.example.com:3478\n",
		"turn:turn.example.com:3478?transport=udp&x=1", "turn:a b:3478", "turn:" + strings.Repeat("a", 300) + ":3478"} {
		if err := checkExternalTURN([]string{u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if err := checkExternalTURN(make([]string, 17)); err == nil {
		t.Error("17 servers accepted")
	}
	if _, err := New(Config{DataDir: t.TempDir(), TURN: TURNConfig{External: []string{"http://x:1"}}}); err == nil {
		t.Error("New accepted a bad external TURN URL")
	}
}

// Peers get credentials for external servers that the relay's secret
// verifies (what coturn's use-auth-secret checks) and that expire.
func TestExternalTURNCredentials(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.TURN = TURNConfig{External: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"}}
	})
	ice := e.srv.iceServers("sess", "guest", e.clock.Now().Add(time.Minute))
	if len(ice) != 1 || len(ice[0].URLs) != 2 || ice[0].URLs[1] != "turns:turn.example.com:5349" {
		t.Fatalf("ICE servers %+v", ice)
	}
	user, pass := TURNCredentials(e.srv.turnSecret, "sess.guest", e.clock.Now().Add(12*time.Hour))
	if ice[0].Username != user || ice[0].Credential != pass {
		t.Fatalf("credentials %s/%s, want %s/%s", ice[0].Username, ice[0].Credential, user, pass)
	}
}
