package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/internal/captest"
)

// TestRemovedDeviceEnrollsAgain (spec 4.3): an administrator removes an
// online device; its Host enrolls again with the package key it kept and
// comes back online as a new device — and once the package is disabled, a
// removed Host stays out.
func TestRemovedDeviceEnrollsAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x := captest.StartX(t, 320, 240)
	e := newEnv(t)
	h := e.startHost(t, x.Display, false)
	c := e.login(t)
	acct, _ := e.srv.Store().AccountByName(ctx, "Acme IT")
	call := func(method, path string, body any) int {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, e.url+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	online := func(notID string) string {
		t.Helper()
		for {
			ds, err := c.Devices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Name == h.hostname && d.Online && d.ID != notID {
					return d.ID
				}
			}
			select {
			case <-ctx.Done():
				t.Fatal("the host did not come back online")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if st := call("DELETE", "/api/v1/accounts/"+acct.ID+"/devices/"+h.deviceID, nil); st != http.StatusNoContent {
		t.Fatalf("remove: %d", st)
	}
	second := online(h.deviceID)
	if second == h.deviceID {
		t.Fatal("same device id after removal")
	}

	// The package disabled: removed again, the Host can't come back.
	ps, _ := e.srv.Admin().Packages(ctx, "")
	if err := e.srv.Store().SetPackageActive(ctx, ps[0].ID, false); err != nil {
		t.Fatal(err)
	}
	if st := call("DELETE", "/api/v1/accounts/"+acct.ID+"/devices/"+second, nil); st != http.StatusNoContent {
		t.Fatalf("remove again: %d", st)
	}
	h.stopsRevoked = true
	select {
	case <-h.done:
	case <-ctx.Done():
		t.Fatal("the removed host neither came back nor stopped")
	}
	if !errors.Is(h.runErr, agent.ErrRevoked) {
		t.Fatalf("the host stopped with %v, want revoked", h.runErr)
	}
	ds, err := c.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Name == h.hostname {
			t.Fatalf("a removed host enrolled into a disabled package: %+v", d)
		}
	}
}
