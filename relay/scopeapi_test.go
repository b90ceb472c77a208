package relay

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestGroupScopes (seed 001): a plain user given Edit on device group A
// sees and renames A's device, not B's (404, as another account's); an
// Admin on A grants View on A (never more than Admin, never on B); View
// reads but does not edit; 100 concurrent attempts on B's device all fail
// and change nothing.
func TestGroupScopes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.login(ownerEmail, ownerPass)
	acme := e.acme().ID
	st := e.srv.Store()
	group := func(name string) string {
		status, body := e.do("POST", "/api/v1/accounts/Acme/groups", tok, wire.GroupRequest{Name: &name, Kind: "device"})
		if status != http.StatusCreated {
			t.Fatalf("group %s: %d %s", name, status, body)
		}
		var g wire.Group
		decode(t, body, &g)
		return g.ID
	}
	ga, gb := group("Germany"), group("France")
	_, key := e.pkg(PackageSpec{Name: "P"})
	da, db := e.enroll(key, "de-1"), e.enroll(key, "fr-1")
	if err := st.AddGroupMember(ctx, ga, da.id); err != nil {
		t.Fatal(err)
	}
	if err := st.AddGroupMember(ctx, gb, db.id); err != nil {
		t.Fatal(err)
	}
	local, localTok := e.member(acme, "local@example.com", store.Member)
	auditor, audTok := e.member(acme, "auditor@example.com", store.Member)
	dev := func(d device) string { return "/api/v1/accounts/Acme/devices/" + d.id }
	alias := func(v string) wire.DeviceUpdate { return wire.DeviceUpdate{Alias: &v} }

	// Nothing before a level is given.
	if status, _ := e.do("GET", dev(da), localTok, nil); status != http.StatusForbidden {
		t.Fatalf("unscoped read: %d", status)
	}
	// The owner gives local Admin on Germany.
	if status, body := e.do("PUT", "/api/v1/accounts/Acme/groups/"+ga+"/scopes/"+local.ID, tok, wire.GroupScope{Level: "admin"}); status != http.StatusNoContent {
		t.Fatalf("grant: %d %s", status, body)
	}
	if status, body := e.do("GET", dev(da), localTok, nil); status != http.StatusOK {
		t.Fatalf("scoped read: %d %s", status, body)
	}
	if status, body := e.do("PATCH", dev(da), localTok, alias("Berlin")); status != http.StatusOK {
		t.Fatalf("scoped edit: %d %s", status, body)
	}
	var ds []wire.Device
	status, body := e.do("GET", "/api/v1/accounts/Acme/devices", localTok, nil)
	decode(t, body, &ds)
	if status != http.StatusOK || len(ds) != 1 || ds[0].ID != da.id {
		t.Fatalf("scoped list: %d %s", status, body)
	}
	// Local grants the auditor View on Germany, not on France.
	if status, _ := e.do("PUT", "/api/v1/accounts/Acme/groups/"+ga+"/scopes/"+auditor.ID, localTok, wire.GroupScope{Level: "view"}); status != http.StatusNoContent {
		t.Fatalf("scoped grant: %d", status)
	}
	if status, _ := e.do("PUT", "/api/v1/accounts/Acme/groups/"+gb+"/scopes/"+auditor.ID, localTok, wire.GroupScope{Level: "view"}); status != http.StatusNotFound {
		t.Fatalf("grant on another group: %d", status)
	}
	if status, _ := e.do("PUT", "/api/v1/accounts/Acme/groups/"+ga+"/scopes/"+auditor.ID, localTok, wire.GroupScope{Level: "owner"}); status != http.StatusBadRequest {
		t.Fatalf("unknown level: %d", status)
	}
	// View reads, does not edit, and grants nothing.
	if status, _ := e.do("GET", dev(da), audTok, nil); status != http.StatusOK {
		t.Fatalf("view read: %d", status)
	}
	if status, _ := e.do("PATCH", dev(da), audTok, alias("Hacked")); status != http.StatusForbidden {
		t.Fatalf("view edit: %d", status)
	}
	if status, _ := e.do("PUT", "/api/v1/accounts/Acme/groups/"+ga+"/scopes/"+auditor.ID, audTok, wire.GroupScope{Level: "admin"}); status != http.StatusNotFound {
		t.Fatalf("view raising itself: %d", status)
	}
	// Nothing of France, and nothing but reading and editing of Germany.
	for _, c := range []struct{ method, path, tok string }{
		{"GET", dev(db), localTok}, {"PATCH", dev(db), localTok}, {"DELETE", dev(da), localTok},
		{"POST", dev(da) + "/revoke", localTok}, {"GET", dev(db), audTok}, {"GET", "/api/v1/accounts/Acme/groups/" + gb + "/scopes", localTok},
	} {
		var in any
		if c.method == "PATCH" {
			in = alias("x")
		}
		if status, _ := e.do(c.method, c.path, c.tok, in); status != http.StatusNotFound && status != http.StatusForbidden && status != http.StatusBadRequest {
			t.Fatalf("%s %s: %d", c.method, c.path, status)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, in := "GET", any(nil)
			if i%2 == 1 {
				method, in = "PATCH", alias("Paris?")
			}
			status, _ := e.do(method, dev(db), localTok, in)
			mu.Lock()
			got[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got[http.StatusNotFound] != 100 {
		t.Fatalf("100 attempts on France: %v", got)
	}
	if d, _ := st.Device(ctx, db.id); d.Alias != "" {
		t.Fatalf("France's device renamed to %q", d.Alias)
	}
	if n := len(e.audit(manage.EvScopeSet)); n != 2 {
		t.Fatalf("%d grants audited, want 2", n)
	}
	// Taking back: local (admin) takes back the auditor's View.
	if status, _ := e.do("DELETE", "/api/v1/accounts/Acme/groups/"+ga+"/scopes/"+auditor.ID, localTok, nil); status != http.StatusNoContent {
		t.Fatalf("take back: %d", status)
	}
	if status, _ := e.do("GET", dev(da), audTok, nil); status != http.StatusForbidden {
		t.Fatalf("read after take back: %d", status)
	}
}
