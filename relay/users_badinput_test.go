package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
)

// Bad input on every write route added for users: a clear 4xx and not a
// byte written. Every write route must have cases here.
func TestUserRoutesBadInput(t *testing.T) {
	e := newEnv(t, withMail(&mailbox{}))
	ctx := context.Background()
	st := e.srv.Store()
	acme := e.acme().ID
	owner, _ := st.UserByEmail(ctx, ownerEmail)
	tok := e.token(owner.ID)
	victim, _ := e.member(acme, "victim@example.com", store.Member)
	in, err := st.CreateInvite(ctx, store.Invite{AccountID: acme, Email: "inv@example.com", Type: store.Member,
		RCAction: store.RCBrowser, TokenHash: "h", CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"name":"` + strings.Repeat("x", api.MaxBodySize) + `"}`
	long := strings.Repeat("x", 300)
	type tc struct {
		body   string // "" sends none
		path   string // overrides the route's path (unknown ids)
		status int
	}
	// Generic cases for every route with a JSON body.
	generic := []tc{
		{body: `[1,2]`, status: 400},
		{body: `{"zzz":1}`, status: 400},
		{body: `{`, status: 400},
		{body: big, status: 413},
	}
	A := "/api/v1/accounts/" + acme
	cases := map[string][]tc{
		"POST /api/v1/login/mfa": {{body: `{"challenge":5}`, status: 400}, {body: `{"challenge":"x","code":"abcdef"}`, status: 400},
			{body: `{"challenge":"` + long + `","code":"123456"}`, status: 400}},
		"PATCH /api/v1/accounts/{account}/users/{id}": {{body: `{}`, status: 400}, {body: `{"type":"owner"}`, status: 403},
			{body: `{"disabled":"yes"}`, status: 400}, {body: `{"name":"` + long + `"}`, status: 400},
			{body: `{"name":"x"}`, path: A + "/users/nope", status: 404}, {body: `{"name":"x"}`, path: "/api/v1/accounts/nope/users/" + victim.ID, status: 404}},
		"DELETE /api/v1/accounts/{account}/users/{id}": {{path: A + "/users/nope", status: 404},
			{path: A + "/users/" + owner.ID, status: 403}, {path: A + "/users/" + long, status: 404}},
		"POST /api/v1/accounts/{account}/users/{id}/unlock": {{path: A + "/users/nope/unlock", status: 404}},
		"POST /api/v1/accounts/{account}/invites": {{body: `{}`, status: 400}, {body: `{"email":"not-an-email"}`, status: 400},
			{body: `{"email":"a@example.com","type":"owner"}`, status: 403}, {body: `{"email":"a@example.com","type":"boss"}`, status: 400},
			{body: `{"email":"a@example.com","rc_action":"x"}`, status: 400}, {body: `{"email":"a@example.com","ondemand":"no"}`, status: 400},
			{body: `{"email":"a@example.com","name":"` + long + `"}`, status: 400}, {body: `{"email":"inv@example.com"}`, status: 409}},
		"POST /api/v1/accounts/{account}/invites/{id}/resend": {{path: A + "/invites/nope/resend", status: 404}},
		"DELETE /api/v1/accounts/{account}/invites/{id}":      {{path: A + "/invites/nope", status: 404}},
		"PUT /api/v1/accounts/{account}/owner": {{body: `{}`, status: 400}, {body: `{"user":"` + victim.ID + `"}`, status: 400},
			{body: `{"user":"nope","password":"` + ownerPass + `"}`, status: 404}, {body: `{"user":"` + owner.ID + `","password":"` + ownerPass + `"}`, status: 409},
			{body: `{"user":"` + victim.ID + `","password":"Wr0ngPassword"}`, status: 403}, {body: `{"user":5}`, status: 400}},
		"PUT /api/v1/accounts/{account}/security": {{body: `{}`, status: 400}, {body: `{"mfa":"on"}`, status: 400}, {body: `{"mfa":true}`, status: 400}},
		"POST /api/v1/invites/accept": {{body: `{}`, status: 400}, {body: `{"token":"nope","password":"G00dPassword"}`, status: 400},
			{body: `{"token":"x"}`, status: 400}, {body: `{"token":"x","password":"G00dPassword","name":7}`, status: 400}},
		"POST /api/v1/password/forgot": {{body: `{}`, status: 400}, {body: `{"email":"` + long + `@x.com"}`, status: 400}},
		"POST /api/v1/password/reset": {{body: `{}`, status: 400}, {body: `{"token":"nope","password":"G00dPassword"}`, status: 400},
			{body: `{"token":"nope","password":"weak"}`, status: 400}},
		"PATCH /api/v1/me": {{body: `{}`, status: 400}, {body: `{"name":"` + long + `"}`, status: 400}},
		"POST /api/v1/me/password": {{body: `{}`, status: 400}, {body: `{"current":"` + memberPass + `","new":"weakling"}`, status: 400},
			{body: `{"current":1,"new":"G00dPassword"}`, status: 400}},
		"PATCH /api/v1/me/accounts/{account}": {{body: `{}`, status: 400}, {body: `{"rc_action":"x"}`, status: 400},
			{body: `{"alias":"a"}`, path: "/api/v1/me/accounts/nope", status: 404}},
		"POST /api/v1/me/api-keys": {{body: `{}`, status: 400}, {body: `{"account":"nope"}`, status: 404},
			{body: `{"account":"` + acme + `"}`, status: 403}, {body: `{"account":"` + acme + `","name":"` + long + `"}`, status: 400}},
		"DELETE /api/v1/me/api-keys/{id}": {{path: "/api/v1/me/api-keys/nope", status: 404}},
		// POST /api/v1/me/recovery-codes and /me/totp take no input.
		"POST /api/v1/me/recovery-codes": nil,
		"POST /api/v1/me/totp":           nil,
		"POST /api/v1/login/mfa/email": {{body: `{}`, status: 400}, {body: `{"challenge":5}`, status: 400},
			{body: `{"challenge":"` + long + `"}`, status: 400}},
		"POST /api/v1/me/totp/confirm": {{body: `{}`, status: 400}, {body: `{"code":"abcdef"}`, status: 400}, {body: `{"code":123456}`, status: 400},
			{body: `{"code":"1234567"}`, status: 400}, {body: `{"code":"123456"}`, status: 409}},
		"POST /api/v1/me/passkey-ceremonies": nil,
		"POST /api/v1/login/passkey":         nil,
		"POST /api/v1/login/passkey/finish": {{body: `{}`, status: 400}, {body: `{"ceremony":"x"}`, status: 400},
			{body: `{"ceremony":"` + strings.Repeat("x", 5000) + `","credential":{}}`, status: 400}},
		"POST /api/v1/login/mfa/passkey": {{body: `{}`, status: 400}, {body: `{"challenge":5}`, status: 400},
			{body: `{"challenge":"` + long + `"}`, status: 400}},
		"POST /api/v1/me/passkeys": {{body: `{}`, status: 400}, {body: `{"ceremony":"x"}`, status: 400},
			{body: `{"ceremony":"x","credential":{}}`, status: 409}, {body: `{"ceremony":"x","credential":{},"name":"a\u202eb"}`, status: 400},
			{body: `{"ceremony":"` + long + `","credential":{}}`, status: 400}},
		"DELETE /api/v1/me/passkeys/{id}": {{body: `{}`, status: 400}, {body: `{"password":"x"}`, path: "/api/v1/me/passkeys/nope", status: 404}},
		"POST /api/v1/login/mfa/sms": {{body: `{}`, status: 400}, {body: `{"challenge":5}`, status: 400},
			{body: `{"challenge":"` + long + `"}`, status: 400}},
		"POST /api/v1/me/phone": {{body: `{"phone":5}`, status: 400}, {body: `{"phone":"+4512345678"}`, status: 409}},
		"POST /api/v1/me/phone/confirm": {{body: `{}`, status: 400}, {body: `{"code":"abcdef"}`, status: 400}, {body: `{"code":"1234567"}`, status: 400},
			{body: `{"code":"12 456"}`, status: 400}},
		"DELETE /api/v1/me/phone": {{body: `{}`, status: 400}, {body: `{"code":"123456","password":"x"}`, status: 400}, {body: `{"password":"x"}`, status: 404}},
		"DELETE /api/v1/me/totp": {{body: `{}`, status: 400}, {body: `{"code":"123456","password":"x"}`, status: 400},
			{body: `{"code":"12 456"}`, status: 400}, {body: `{"password":"x"}`, status: 404}, {body: `{"zzz":1}`, status: 400}},
	}
	bodiless := map[string]bool{"POST /api/v1/accounts/{account}/users/{id}/unlock": true,
		"POST /api/v1/accounts/{account}/invites/{id}/resend": true, "POST /api/v1/me/recovery-codes": true, "POST /api/v1/me/totp": true,
		"POST /api/v1/me/passkey-ceremonies": true, "POST /api/v1/login/passkey": true}
	for _, rt := range e.srv.userRoutes() {
		if rt.method == "GET" {
			continue
		}
		key := rt.method + " " + rt.path
		list, ok := cases[key]
		if !ok {
			t.Errorf("write route %s has no bad-input cases", key)
			continue
		}
		if rt.method != "DELETE" && !bodiless[key] {
			list = append(list, generic...)
		}
		path := strings.NewReplacer("{account}", acme).Replace(rt.path)
		path = strings.Replace(path, "/users/{id}", "/users/"+victim.ID, 1)
		path = strings.Replace(path, "/invites/{id}", "/invites/"+in.ID, 1)
		for _, c := range list {
			p := path
			if c.path != "" {
				p = c.path
			}
			var body any
			if c.body != "" {
				body = []byte(c.body)
			}
			before := e.snapshot()
			status, resp := e.do(rt.method, p, tok, body)
			short := c.body
			if len(short) > 60 {
				short = short[:60] + "..."
			}
			if status != c.status {
				t.Errorf("%s %s %s: %d, want %d (%s)", rt.method, p, short, status, c.status, resp)
				continue
			}
			wantError(t, status, resp, c.status, codeFor(status, resp))
			if e.snapshot() != before {
				t.Errorf("%s %s %s: refused but wrote", rt.method, p, short)
			}
		}
	}
}

// codeFor is the error code expected with status; a 400 may be any of
// the validation codes.
func codeFor(status int, body []byte) string {
	switch status {
	case 403:
		if strings.Contains(string(body), `"`+api.CodeBadCredentials+`"`) {
			return api.CodeBadCredentials
		}
		return api.CodeForbidden
	case 404:
		return api.CodeNotFound
	case 409:
		return api.CodeConflict
	case 413:
		return api.CodeBodyTooLarge
	}
	for _, c := range []string{api.CodeWeakPassword, api.CodeInvalidToken} {
		if strings.Contains(string(body), `"`+c+`"`) {
			return c
		}
	}
	return api.CodeBadRequest
}
