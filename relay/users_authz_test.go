package relay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store"
)

// The callers of the authorization matrix.
var actors = []string{"anon", "user", "gm", "admin", "owner", "apiuser", "apikey", "adminkey", "other", "useradmin", "usercreator"}

// authzRow is one route's expected status per actor (in actors' order),
// for the request the test sends: no body on GET, DELETE and the
// action routes, "{}" elsewhere. 400 on "{}" means the caller got past
// authorization to validation.
type authzRow [11]int

// authzMatrix must have a row for every route userRoutes serves: the test
// fails on a route without one.
var authzMatrix = map[string]authzRow{
	//                                                     anon user gm   admin owner apiuser apikey adminkey other useradmin usercreator
	"POST /api/v1/login/mfa":                              {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"GET /api/v1/accounts/{account}/users":                {401, 403, 200, 200, 200, 403, 403, 200, 404, 200, 200},
	"GET /api/v1/accounts/{account}/users/{id}":           {401, 403, 200, 200, 200, 403, 403, 200, 404, 200, 200},
	"PATCH /api/v1/accounts/{account}/users/{id}":         {401, 403, 400, 400, 400, 403, 403, 400, 404, 400, 403},
	"DELETE /api/v1/accounts/{account}/users/{id}":        {401, 403, 204, 204, 204, 403, 403, 204, 404, 204, 403},
	"POST /api/v1/accounts/{account}/users/{id}/unlock":   {401, 403, 204, 204, 204, 403, 403, 204, 404, 403, 403},
	"GET /api/v1/accounts/{account}/invites":              {401, 403, 200, 200, 200, 403, 403, 200, 404, 200, 200},
	"POST /api/v1/accounts/{account}/invites":             {401, 403, 400, 400, 400, 403, 403, 400, 404, 400, 400},
	"POST /api/v1/accounts/{account}/invites/{id}/resend": {401, 403, 200, 200, 200, 403, 403, 200, 404, 200, 200},
	"DELETE /api/v1/accounts/{account}/invites/{id}":      {401, 403, 204, 204, 204, 403, 403, 204, 404, 204, 204},
	"PUT /api/v1/accounts/{account}/owner":                {401, 403, 403, 403, 400, 403, 403, 403, 404, 403, 403},
	"GET /api/v1/accounts/{account}/security":             {401, 403, 403, 200, 200, 403, 403, 200, 404, 403, 403},
	"PUT /api/v1/accounts/{account}/security":             {401, 403, 403, 400, 400, 403, 403, 400, 404, 403, 403},
	"POST /api/v1/invites/accept":                         {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"POST /api/v1/password/forgot":                        {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"POST /api/v1/password/reset":                         {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"PATCH /api/v1/me":                                    {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"POST /api/v1/me/password":                            {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"POST /api/v1/me/recovery-codes":                      {401, 201, 201, 201, 201, 201, 403, 403, 201, 201, 201},
	"PATCH /api/v1/me/accounts/{account}":                 {401, 400, 400, 400, 400, 400, 403, 403, 404, 400, 400},
	"GET /api/v1/me/api-keys":                             {401, 200, 200, 200, 200, 200, 403, 403, 200, 200, 200},
	"POST /api/v1/me/api-keys":                            {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"POST /api/v1/login/mfa/email":                        {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"GET /api/v1/me/mfa":                                  {401, 200, 200, 200, 200, 200, 403, 403, 200, 200, 200},
	"POST /api/v1/me/totp":                                {401, 201, 201, 201, 201, 201, 403, 403, 201, 201, 201},
	"POST /api/v1/me/totp/confirm":                        {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"DELETE /api/v1/me/totp":                              {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"POST /api/v1/login/mfa/passkey":                      {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"POST /api/v1/login/passkey":                          {409, 409, 409, 409, 409, 409, 409, 409, 409, 409, 409}, // 409: reached at 127.0.0.1, passkeys need a domain
	"POST /api/v1/login/passkey/finish":                   {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	"GET /api/v1/me/passkeys":                             {401, 200, 200, 200, 200, 200, 403, 403, 200, 200, 200},
	// 409: the test's relay is reached at 127.0.0.1, and passkeys need a domain.
	"POST /api/v1/me/passkey-ceremonies": {401, 409, 409, 409, 409, 409, 403, 403, 409, 409, 409},
	"POST /api/v1/me/passkeys":           {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"POST /api/v1/login/mfa/sms":         {400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400},
	// 409: the test's relay sends no SMS.
	"POST /api/v1/me/phone":           {401, 409, 409, 409, 409, 409, 403, 403, 409, 409, 409},
	"POST /api/v1/me/phone/confirm":   {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"DELETE /api/v1/me/phone":         {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	"DELETE /api/v1/me/passkeys/{id}": {401, 400, 400, 400, 400, 400, 403, 403, 400, 400, 400},
	// {id} is a key of apiuser's: only apiuser may revoke it.
	"DELETE /api/v1/me/api-keys/{id}": {401, 404, 404, 404, 404, 204, 403, 403, 404, 404, 404},
}

// Every route added for users × every kind of caller → the expected
// answer. A user of another account gets 404 (the account is invisible),
// an API key acts as its member in its account (apikey: a User's,
// adminkey: an administrator's) but cannot manage keys, passwords,
// recovery codes or ownership.
func TestUserRoutesAuthorization(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	ctx := context.Background()
	st := e.srv.Store()
	acme := e.acme()
	tokens := map[string]string{"anon": ""}
	ownerU, err := st.UserByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	tokens["owner"] = e.token(ownerU.ID)
	_, tokens["user"] = e.member(acme.ID, "user@example.com", store.Member)
	_, tokens["gm"] = e.member(acme.ID, "gm@example.com", store.GroupManager)
	_, tokens["admin"] = e.member(acme.ID, "admin@example.com", store.Admin)
	apiUser, apiTok := e.member(acme.ID, "api@example.com", store.Member, func(m *store.Membership) { m.API = true })
	tokens["apiuser"] = apiTok
	_, tokens["apikey"] = e.apiKey(acme.ID, apiUser.ID)
	apiAdmin, _ := e.member(acme.ID, "apiadmin@example.com", store.Admin, func(m *store.Membership) { m.API = true })
	_, tokens["adminkey"] = e.apiKey(acme.ID, apiAdmin.ID)
	other, err := st.CreateAccount(ctx, store.Account{Name: "Other", CreatedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, tokens["other"] = e.member(other.ID, "other@example.com", store.Owner)
	// The rights of roles document 002 on plain users (relay/rights).
	_, tokens["useradmin"] = e.member(acme.ID, "ua@example.com", store.Member, func(m *store.Membership) { m.UserAdmin = true })
	_, tokens["usercreator"] = e.member(acme.ID, "uc@example.com", store.Member, func(m *store.Membership) { m.UserCreator = true })

	seen := map[string]bool{}
	cell := 0
	routes := e.srv.userRoutes()
	for _, rt := range e.srv.kitRoutes(e.srv.mg.Routes()) { // API keys moved to relay/manage
		if strings.Contains(rt.path, "/api-keys") {
			routes = append(routes, rt)
		}
	}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		seen[key] = true
		row, ok := authzMatrix[key]
		if !ok {
			t.Errorf("route %s has no row in the authorization matrix", key)
			continue
		}
		for i, actor := range actors {
			// Fresh targets for every cell: a victim user, a pending
			// invitation, a key of apiuser's.
			cell++
			victim, _ := e.member(acme.ID, fmt.Sprintf("victim%d@example.com", cell), store.Member)
			in, err := st.CreateInvite(ctx, store.Invite{AccountID: acme.ID, Email: "inv" + victim.ID + "@example.com",
				Type: store.Member, RCAction: store.RCBrowser, TokenHash: victim.ID, CreatedAt: e.clock.Now(),
				ExpiresAt: e.clock.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			k, _ := e.apiKey(acme.ID, apiUser.ID)
			path := strings.NewReplacer("{account}", acme.ID).Replace(rt.path)
			switch {
			case strings.Contains(path, "/users/{id}"):
				path = strings.Replace(path, "{id}", victim.ID, 1)
			case strings.Contains(path, "/invites/{id}"):
				path = strings.Replace(path, "{id}", in.ID, 1)
			case strings.Contains(path, "/api-keys/{id}"):
				path = strings.Replace(path, "{id}", k.ID, 1)
			}
			var body any
			if rt.method != "GET" && rt.method != "DELETE" && !strings.HasSuffix(path, "/resend") &&
				!strings.HasSuffix(path, "/unlock") && !strings.HasSuffix(path, "/recovery-codes") && !strings.HasSuffix(path, "/me/totp") &&
				!strings.HasSuffix(path, "/me/passkey-ceremonies") {
				body = []byte("{}")
			}
			status, resp := e.do(rt.method, path, tokens[actor], body)
			if status != row[i] {
				t.Errorf("%s as %s: %d, want %d (%s)", key, actor, status, row[i], strings.TrimSpace(string(resp)))
			}
		}
	}
	for key := range authzMatrix {
		if !seen[key] {
			t.Errorf("matrix row %s names no route", key)
		}
	}
}
