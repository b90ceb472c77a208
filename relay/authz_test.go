package relay

import (
	"context"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
)

// TestAuthorizationMatrix walks every route of the API with every kind of
// caller — nobody, each member type, an administrator's API key, the
// owner of another account — and checks the answer against the route's
// declared audience (apiDocs.auth, which TestOpenAPI requires for every
// route): a new route without a declared audience fails there, one that
// lets the wrong caller in fails here.
func TestAuthorizationMatrix(t *testing.T) {
	e := newSessionEnv(t)
	ctx := context.Background()
	acct := e.dev.resp.AccountID
	// Each request gets a fresh login, so logout and password routes can't
	// spoil the next one.
	ids := map[string]string{}
	ids["user"], _ = e.memberOf("user@example.com", store.Member, "Acme")
	ids["group_manager"], _ = e.memberOf("gm@example.com", store.GroupManager, "Acme")
	ids["admin"], _ = e.memberOf("admin@example.com", store.Admin, "Acme")
	ids["other_account_owner"], _ = e.memberOf("other@example.com", store.Owner, "Other Co")
	owner, err := e.srv.Store().UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	ids["owner"] = owner.ID
	am, err := e.srv.Store().AccountUser(ctx, acct, ids["admin"])
	if err != nil {
		t.Fatal(err)
	}
	am.Membership.API = true
	if err := e.srv.Store().UpdateMembership(ctx, am.Membership); err != nil {
		t.Fatal(err)
	}
	callers := map[string]func() string{
		"anonymous":     func() string { return "" },
		"admin_api_key": func() string { _, k := e.apiKey(acct, ids["admin"]); return k },
	}
	for who, id := range ids {
		callers[who] = func() string { return e.token(id) }
	}

	// rank of each caller in the account; -1 outside it.
	rank := map[string]int{"anonymous": -2, "other_account_owner": -1, "user": 1, "group_manager": 2, "admin": 3, "admin_api_key": 3, "owner": 4}
	need := map[string]int{"manager": 2, "usermanager": 2, "admin": 3, "logadmin": 2, "owner": 4}

	routes := e.srv.routeTable()
	for _, rt := range routes {
		doc := apiDocs[rt.method+" "+rt.path]
		path := strings.NewReplacer("{account}", acct, "{id}", "x", "{member}", "y", "{device}", "no-such-device", "{key}", "123456789").Replace(rt.path)
		for who, tok := range callers {
			status, body := e.do(rt.method, path, tok(), []byte(`{}`))
			fail := func(want string) {
				t.Errorf("%s %s as %s (%s route): %d %s; want %s", rt.method, rt.path, who, doc.auth, status, body, want)
			}
			if status >= 500 {
				fail("no server error")
				continue
			}
			switch doc.auth {
			case "none", "agent":
				if status == 401 || status == 403 {
					fail("no authentication needed")
				}
			case "user":
				if (who == "anonymous") != (status == 401) {
					fail("401 exactly for anonymous")
				}
			case "manager", "usermanager", "admin", "logadmin", "owner":
				switch r := rank[who]; {
				case r == -2:
					if status != 401 {
						fail("401")
					}
				case r == -1 && strings.Contains(rt.path, "{account}"):
					if status != 404 {
						fail("404: another account's routes are invisible")
					}
				case r >= need[doc.auth]:
					if status == 401 || status == 403 {
						fail("past authorization")
					}
				default:
					if status != 403 {
						fail("403")
					}
				}
			default:
				t.Errorf("%s %s: unknown audience %q", rt.method, rt.path, doc.auth)
			}
		}
	}
	if len(routes) < 60 {
		t.Fatalf("only %d routes", len(routes))
	}
}
