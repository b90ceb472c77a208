package relay

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestHostileNames: every name the relay stores and shows (install pages,
// emails, the Portal, consoles) refuses bidi controls, zero-width and
// C0/C1 characters with a 400 naming the field, and writes nothing.
func TestHostileNames(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	acme := e.acme().ID
	owner, _ := e.srv.Store().UserByEmail(t.Context(), ownerEmail)
	tok := e.token(owner.ID)
	member, _ := e.member(acme, "m@example.com", store.Member, func(m *store.Membership) { m.API = true })
	_, key := e.pkg(PackageSpec{Account: acme, Name: "Office"})
	dev := e.enroll(key, "pc-1")
	var group wire.Group
	if status, body := e.do("POST", "/api/v1/accounts/"+acme+"/groups", tok, wire.GroupRequest{Name: strp("Helpdesk"), Kind: "user"}); status != 201 {
		t.Fatalf("group: %d %s", status, body)
	} else {
		decode(t, body, &group)
	}
	acct := "/api/v1/accounts/" + acme
	hostile := map[string]string{
		"rlo":  "invoice\u202efdp.exe",
		"lri":  "Acme\u2066 Support",
		"lrm":  "Acme\u200e",
		"alm":  "Acme\u061c",
		"zwsp": "Ad\u200bmin",
		"zwj":  "Admin\u200d",
		"wj":   "Admin\u2060",
		"bom":  "\ufeffAdmin",
		"c1":   "Acme\u009b31m",
		"nel":  "Acme\u0085",
		"c0":   "Acme\x1b[31m",
	}
	cases := []struct {
		field, method, path string
		body                func(v string) any
	}{
		{"name", "PATCH", acct + "/users/" + member.ID, func(v string) any { return map[string]any{"name": v} }},
		{"name", "POST", acct + "/invites", func(v string) any { return map[string]any{"email": "new@example.com", "name": v} }},
		{"email", "POST", acct + "/invites", func(v string) any { return map[string]any{"email": strings.ReplaceAll(v, " ", "") + "@example.com"} }},
		{"name", "PATCH", "/api/v1/me", func(v string) any { return map[string]any{"name": v} }},
		{"alias", "PATCH", "/api/v1/me/accounts/" + acme, func(v string) any { return map[string]any{"alias": v} }},
		{"name", "POST", "/api/v1/me/api-keys", func(v string) any { return map[string]any{"account": acme, "name": v} }},
		{"name", "POST", acct + "/groups", func(v string) any { return map[string]any{"name": v, "kind": "user"} }},
		{"name", "PATCH", acct + "/groups/" + group.ID, func(v string) any { return map[string]any{"name": v} }},
		{"description", "PATCH", acct + "/groups/" + group.ID, func(v string) any { return map[string]any{"description": v} }},
		{"name", "POST", acct + "/roles", func(v string) any {
			return map[string]any{"name": v, "type": "device", "enabled": true, "permissions": []string{"view_screen"}}
		}},
		{"name", "POST", acct + "/applications", func(v string) any { return map[string]any{"name": v, "executable": "notepad.exe"} }},
		{"alias", "PATCH", acct + "/devices/" + dev.id, func(v string) any { return map[string]any{"alias": v} }},
		{"description", "PATCH", acct + "/devices/" + dev.id, func(v string) any { return map[string]any{"description": v} }},
		{"name", "POST", acct + "/packages", func(v string) any { return map[string]any{"name": v} }},
		{"company", "PUT", acct + "/config", func(v string) any {
			return map[string]any{"company": v, "timezone": "UTC", "rc_action": "browser"}
		}},
	}
	for _, c := range cases {
		for kind, v := range hostile {
			before := e.snapshot()
			body := c.body(v)
			status, resp := e.do(c.method, c.path, tok, body)
			b, _ := json.Marshal(body)
			if status != http.StatusBadRequest {
				t.Errorf("%s %s %s (%s): %d %s, want 400", c.method, c.path, c.field, kind, status, resp)
				continue
			}
			var ae wire.APIError
			decode(t, resp, &ae)
			if !strings.HasPrefix(ae.Error.Message, c.field) && !strings.Contains(ae.Error.Message, c.field+":") {
				t.Errorf("%s %s with %s: message %q does not name the field %s", c.method, c.path, b, ae.Error.Message, c.field)
			}
			if e.snapshot() != before {
				t.Errorf("%s %s (%s): refused but written", c.method, c.path, kind)
			}
		}
	}
	// An agent's inventory is shown as the device's name too.
	status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: key, PublicKey: pubB64(newKey(t)),
		Inventory: &wire.Inventory{Hostname: "pc\u202e1", OS: "linux"}})
	if status != http.StatusBadRequest {
		t.Errorf("enroll with a bidi hostname: %d %s", status, body)
	}
}
