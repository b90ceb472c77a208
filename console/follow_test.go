package console

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/launchlink"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestFollowLink: a tandem:// link to the relay logged in to opens its
// device once the devices are listed (and only once); a device the user
// may not see is reported, not connected; a link to another relay puts
// the login form up for that relay, leaving the saved login alone.
func TestFollowLink(t *testing.T) {
	f := newFake()
	f.devices = []wire.Device{{ID: "0190f3c2-7a4b-7c3d-9e8f-0123456789ab", Name: "pc1", AccountID: acme.ID}}
	dir := t.TempDir()
	if err := guest.SaveState(dir, &guest.State{Relay: "https://relay.test", Email: "tech@example.com", Token: f.token}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := func() *Model {
		m := newModel(testLogger(), dir, transportConfig(), f.api, time.Now)
		m.Start(ctx)
		if m.Phase() != PhaseMain {
			t.Fatalf("not logged in: %q", m.LoginError())
		}
		return m
	}
	m := start()
	m.Follow(launchlink.Link{Relay: "https://RELAY.test/", Device: f.devices[0].ID})
	if _, _, ok := m.TakeFollowed(); ok {
		t.Fatal("followed before the devices were listed")
	}
	if err := m.RefreshDevices(ctx); err != nil {
		t.Fatal(err)
	}
	if d, found, ok := m.TakeFollowed(); !ok || !found || d.Name != "pc1" {
		t.Fatalf("followed %+v %v %v", d, found, ok)
	}
	if _, _, ok := m.TakeFollowed(); ok {
		t.Fatal("followed twice")
	}
	m.Follow(launchlink.Link{Relay: "https://relay.test", Device: "0190f3c2-7a4b-7c3d-9e8f-000000000000"})
	if _, found, ok := m.TakeFollowed(); !ok || found {
		t.Fatalf("an unknown device: found %v ok %v", found, ok)
	}

	m = start()
	m.Follow(launchlink.Link{Relay: "https://other.example", Device: f.devices[0].ID})
	if relay, user := m.Remembered(); m.Phase() != PhaseLogin || relay != "https://other.example" || user != "" {
		t.Fatalf("another relay: phase %v, form %q %q", m.Phase(), relay, user)
	}
	if st, err := guest.LoadState(dir); err != nil || st.Relay != "https://relay.test" || st.Token != f.token {
		t.Fatalf("the saved login changed: %+v %v", st, err)
	}
}
