package relay

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/relay/store/storetest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestAssignmentsListingAPI: with listing parameters the role assignments
// list answers one filtered page, with each one's status and authors, and
// the match count in X-Total-Count, on both engines; a group named with
// quotes and LIKE wildcards is only data; what is not a listed column is a
// 400; group managers list, plain users do not.
func TestAssignmentsListingAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		e := newEnv(t, withDB(be.Fresh(t)))
		tok := e.login(ownerEmail, ownerPass)
		base := "/api/v1/accounts/" + e.acme().ID
		const hostile = `O'Brien "100%" _ü`
		groups := map[string]string{}
		for name, kind := range map[string]string{hostile: "user", "Night shift": "user", "Lab": "device"} {
			var out wire.Group
			status, body := e.do("POST", base+"/groups", tok, map[string]string{"name": name, "kind": kind})
			if status != http.StatusCreated {
				t.Fatalf("group %q: %d %s", name, status, body)
			}
			decode(t, body, &out)
			groups[name] = out.ID
		}
		for _, a := range []wire.Assignment{
			{Name: "Hostile on the lab", Active: true, RoleID: policy.RoleIDWebSupport, UserGroups: []string{groups[hostile]}, DeviceGroups: []string{groups["Lab"]}},
			{Name: "Night queue", Active: false, RoleID: policy.RoleIDFullAccessOnDemand, UserGroups: []string{groups["Night shift"]}, DeviceGroups: []string{}},
		} {
			if status, body := e.do("POST", base+"/assignments", tok, a); status != http.StatusCreated {
				t.Fatalf("assignment %q: %d %s", a.Name, status, body)
			}
		}
		list := func(token, query string) (int, []wire.Assignment, http.Header) {
			t.Helper()
			status, body, h := e.rawDo("GET", base+"/assignments?"+query, token, "", nil)
			var out []wire.Assignment
			if status == http.StatusOK {
				decode(t, body, &out)
			}
			return status, out, h
		}
		// The seeded "Administrators: full access" and the two above.
		status, all, h := list(tok, "")
		if status != http.StatusOK || len(all) != 3 || h.Get("X-Total-Count") != "" {
			t.Fatalf("plain list: %d %d %q", status, len(all), h.Get("X-Total-Count"))
		}
		status, page, h := list(tok, "v.user_groups="+url.QueryEscape(hostile))
		if status != http.StatusOK || h.Get("X-Total-Count") != "1" || len(page) != 1 || page[0].Name != "Hostile on the lab" ||
			page[0].Status != "active" || page[0].CreatedBy == "" {
			t.Fatalf("by the hostile group: %d %q %+v", status, h.Get("X-Total-Count"), page)
		}
		if _, page, h = list(tok, "f.user_groups=%25"); h.Get("X-Total-Count") != "1" || page[0].Name != "Hostile on the lab" {
			t.Fatalf("%% is only text: %q %+v", h.Get("X-Total-Count"), page)
		}
		_, page, h = list(tok, "v.device_groups=&v.active=no")
		if h.Get("X-Total-Count") != "1" || len(page) != 1 || page[0].Name != "Night queue" || page[0].Status != "inactive" {
			t.Fatalf("blank device groups, inactive: %q %+v", h.Get("X-Total-Count"), page)
		}
		_, page, h = list(tok, "v.role=Administrator&v.role=Web+Support&sort=-role&size=10")
		if h.Get("X-Total-Count") != "2" || len(page) != 2 || page[0].Name != "Hostile on the lab" || page[1].Name != "Administrators: full access" {
			t.Fatalf("by role name, descending: %q %+v", h.Get("X-Total-Count"), page)
		}
		for _, q := range []string{"sort=user_groups_json", "f.account_id=x", "v.schedule_json=x", "size=7", "sort=id"} {
			status, body, _ := e.rawDo("GET", base+"/assignments?"+q, tok, "", nil)
			wantError(t, status, body, http.StatusBadRequest, "bad_request")
		}
		_, mgr := e.member(e.acme().ID, "manager@example.com", store.GroupManager)
		if status, page, h := list(mgr, "v.user_groups=Night+shift"); status != http.StatusOK || h.Get("X-Total-Count") != "1" || len(page) != 1 {
			t.Fatalf("a group manager's listing: %d %q", status, h.Get("X-Total-Count"))
		}
		_, plain := e.member(e.acme().ID, "plain@example.com", store.Member)
		status, body, _ := e.rawDo("GET", base+"/assignments?v.user_groups=Night+shift", plain, "", nil)
		wantError(t, status, body, http.StatusForbidden, "forbidden")
	})
}
