package transport

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

const turnSecret = "shared-secret-for-tests"

func TestTURNRelay(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		for _, both := range []bool{true, false} {
			name := proto + "/guest relay-only"
			if both {
				name = proto + "/both relay-only"
			}
			t.Run(name, func(t *testing.T) {
				ctx := testCtx(t, 60*time.Second)
				url := turnServer(t, proto, turnSecret)
				user, pass := turnCredentials(t, turnSecret, "u-1")
				servers := []wire.ICEServer{{URLs: []string{url}, Username: user, Credential: pass}}

				gcfg, hcfg := loopbackConfig(), loopbackConfig()
				gcfg.ICEServers, gcfg.RelayOnly = servers, true
				hcfg.ICEServers, hcfg.RelayOnly = servers, both
				p := newPair(t, ctx, gcfg, hcfg, 0)
				p.waitConnected(t, ctx)

				local, _, err := p.guest.SelectedPair()
				if err != nil || local != "relay" {
					t.Fatalf("guest selected pair local %q, %v; want relay", local, err)
				}
				if both {
					if local, _, err := p.host.SelectedPair(); err != nil || local != "relay" {
						t.Fatalf("host selected pair local %q, %v; want relay", local, err)
					}
				}
				g, h := p.channels(t, ctx, wire.ChannelControl)
				hello := &wire.Hello{Version: wire.Version, Role: wire.RoleGuest, Caps: []string{wire.CapFragments}}
				if err := g.Send(hello); err != nil {
					t.Fatal(err)
				}
				if m, err := h.Recv(ctx); err != nil || !reflect.DeepEqual(m, hello) {
					t.Fatalf("over TURN: %#v, %v", m, err)
				}
				if _, errs := p.g2h.stats(); len(errs) > 0 {
					t.Fatal(errs)
				}
			})
		}
	}
}

// With a wrong TURN password a relay-only peer gathers nothing and ends with
// ErrNoCandidates; neither side connects. pion/turn drops requests that fail
// the integrity check (coturn answers 401), so the client gives up only after
// its retransmissions, about 8 s: the subtests run in parallel.
func TestTURNWrongPassword(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 60*time.Second)
			url := turnServer(t, proto, turnSecret)
			user, _ := turnCredentials(t, turnSecret, "u-1")
			_, wrong := turnCredentials(t, "not-the-secret", "u-1")

			gcfg, hcfg := loopbackConfig(), loopbackConfig()
			gcfg.ICEServers = []wire.ICEServer{{URLs: []string{url}, Username: user, Credential: wrong}}
			gcfg.RelayOnly = true
			p := newPair(t, ctx, gcfg, hcfg, 0)

			select {
			case <-p.guest.Done():
			case <-p.guest.Connected():
				t.Fatal("connected with a wrong TURN password")
			case <-ctx.Done():
				t.Fatal("the guest neither failed nor connected")
			}
			if err := p.guest.Err(); !errors.Is(err, ErrNoCandidates) {
				t.Fatalf("guest Err = %v, want ErrNoCandidates", err)
			}
			// The guest's bye ends the host as well.
			select {
			case <-p.host.Done():
			case <-ctx.Done():
				t.Fatal("host not done")
			}
			select {
			case <-p.host.Connected():
				t.Fatal("host connected")
			default:
			}
			if err := p.host.Err(); !errors.Is(err, ErrRemoteClosed) {
				t.Fatalf("host Err = %v, want ErrRemoteClosed", err)
			}
		})
	}
}
