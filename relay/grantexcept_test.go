package relay

import (
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestGrantCarriesExceptions: the roles' "except when locked / no user is
// logged in" reach the Host as grant flags, set only when every
// applicable role allows the exception.
func TestGrantCarriesExceptions(t *testing.T) {
	e := newSessionEnv(t)
	base := "/api/v1/accounts/Acme"
	call := func(method, path string, body any, want int, out any) {
		t.Helper()
		status, b := e.do(method, base+path, e.tok, body)
		if status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		if out != nil {
			decode(t, b, out)
		}
	}
	assign := func(name, role string) {
		call("POST", "/assignments", wire.Assignment{Name: name, Active: true, RoleID: role,
			UserGroups: []string{policy.GroupIDEveryone}, DeviceGroups: []string{policy.GroupIDEverything}}, 201, nil)
	}
	grant := func() *policy.Grant {
		t.Helper()
		_, g := e.open()
		gr, err := policy.Verify(g.Grant, e.srv.PublicKey(), e.dev.id, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return gr
	}
	var np wire.Application
	call("POST", "/applications", wire.Application{Name: "Notepad", Enabled: true, Executable: "notepad.exe"}, 201, &np)
	var wl, ask, strict wire.RoleInfo
	call("POST", "/roles", wire.RoleInfo{Name: "Only Notepad", Type: "whitelisted_apps", Enabled: true, AppIDs: []string{np.ID},
		ExceptLocked: true}, 201, &wl)
	call("POST", "/roles", wire.RoleInfo{Name: "Ask", Type: "confirm_access", Enabled: true, ConfirmLocal: true, ExceptNoUser: true}, 201, &ask)
	assign("wl", wl.ID)
	assign("ask", ask.ID)
	g := grant()
	if g.Whitelist == nil || !g.WhitelistExceptLocked || g.WhitelistExceptNoUser ||
		!g.ConfirmLocal || !g.ConfirmExceptNoUser || g.ConfirmExceptLocked || g.ConfirmEmail {
		t.Fatalf("grant %+v", g)
	}
	// Another confirm role without exceptions: the prompt is always needed.
	call("POST", "/roles", wire.RoleInfo{Name: "Always ask", Type: "confirm_access", Enabled: true, ConfirmLocal: true}, 201, &strict)
	assign("strict", strict.ID)
	if g = grant(); !g.ConfirmLocal || g.ConfirmExceptNoUser || g.ConfirmExceptLocked || !g.WhitelistExceptLocked {
		t.Fatalf("grant with a strict role %+v", g)
	}
}
