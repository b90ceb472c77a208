package relay

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestListingAPI: with listing parameters the users, devices, groups and roles lists
// answer one filtered page and the match count; a column that is not
// listed (a password hash, say) is a 400, never silently ignored.
func TestListingAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.login(ownerEmail, ownerPass)
	acct, err := e.srv.Store().AccountByName(context.Background(), "Acme")
	if err != nil {
		t.Fatal(err)
	}
	_, key := e.pkg(PackageSpec{Name: "p"})
	for _, h := range []string{"alpha", "beta", "gamma"} {
		e.enroll(key, h)
	}
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	base := "/api/v1/accounts/" + acct.ID
	resp, body := get(base + "/devices?f.hostname=a&sort=-hostname&size=10")
	var devs []wire.Device
	decode(t, body, &devs)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "3" || len(devs) != 3 || devs[0].Hostname != "gamma" {
		t.Fatalf("devices page: %d %q %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	resp, body = get(base + "/devices?f.hostname=alp")
	if resp.Header.Get("X-Total-Count") != "1" {
		t.Fatalf("filtered devices: %s", body)
	}
	resp, body = get(base + "/users?v.name=&size=10")
	var users []wire.Member
	decode(t, body, &users)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(users) != 1 || users[0].Email != ownerEmail {
		t.Fatalf("users page: %d %s", resp.StatusCode, body)
	}
	// Groups: the built-ins among the account's, with member counts; the
	// enrolled devices are all in Everything.
	resp, body = get(base + "/groups?v.type=device&sort=-members")
	var groups []wire.Group
	decode(t, body, &groups)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(groups) != 1 || !groups[0].Builtin ||
		groups[0].Name != "Everything" || groups[0].MemberCount == nil || *groups[0].MemberCount != 3 {
		t.Fatalf("groups page: %d %q %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	// Roles: the predefined ones among the account's, with their rules.
	resp, body = get(base + "/roles?v.type=ondemand&v.predefined=yes")
	var roles []wire.RoleInfo
	decode(t, body, &roles)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(roles) != 1 || !roles[0].Predefined ||
		roles[0].Name != "Full Access" || len(roles[0].Permissions) == 0 {
		t.Fatalf("roles page: %d %q %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	// Applications: one filtered page of the catalog.
	for _, n := range []string{"Notepad", "Paint"} {
		if _, err := e.srv.Store().CreateApp(context.Background(), acct.ID, policy.App{Name: n, Enabled: true, Executable: strings.ToLower(n) + ".exe"}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body = get(base + "/applications?f.executable=paint&sort=-name")
	var apps []wire.Application
	decode(t, body, &apps)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(apps) != 1 || apps[0].Name != "Paint" {
		t.Fatalf("applications page: %d %q %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	// Packages (Downloads): filtered by device count, with it.
	e.pkg(PackageSpec{Name: "q"})
	resp, body = get(base + "/packages?v.devices=3&sort=name")
	var pkgs []wire.Package
	decode(t, body, &pkgs)
	if resp.StatusCode != 200 || resp.Header.Get("X-Total-Count") != "1" || len(pkgs) != 1 || pkgs[0].Name != "p" || pkgs[0].Devices != 3 {
		t.Fatalf("packages page: %d %q %s", resp.StatusCode, resp.Header.Get("X-Total-Count"), body)
	}
	for _, q := range []string{"/packages?f.key_hash=x", "/packages?sort=license_key", "/applications?f.account_id=x", "/users?f.password_hash=x", "/users?sort=secret", "/devices?v.public_key=x", "/devices?size=7",
		"/groups?f.account_id=x", "/groups?sort=id", "/roles?f.rules=x", "/roles?sort=account_id"} {
		resp, body = get(base + q)
		wantError(t, resp.StatusCode, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	// Without parameters: the whole list, as before.
	resp, body = get(base + "/devices")
	decode(t, body, &devs)
	if resp.Header.Get("X-Total-Count") != "" || len(devs) != 3 {
		t.Fatalf("plain list: %s", body)
	}
}
