package relay

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestActivityAPI: the Dashboard's activity, per local day of the
// account's time zone (a login at 23:30 local counts on that local day,
// not the UTC one), this week and last; administrators only; bad days
// refused.
func TestActivityAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acme := e.acme()
	st := e.srv.Store()
	if err := st.SetAccountDetails(ctx, acme.ID, store.AccountDetails{TimeZone: "America/New_York", RCAction: "browser"}); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	now := time.Date(2026, 11, 12, 10, 0, 0, 0, ny) // a Thursday, after the DST change of Nov 1
	e.clock.mu.Lock()
	e.clock.t = now.UTC()
	e.clock.mu.Unlock()
	tech, techTok := e.member(acme.ID, "tech@example.com", store.Member)
	owner, _ := st.UserByEmail(ctx, ownerEmail)
	for _, ev := range []struct {
		at   time.Time
		user string
	}{
		{time.Date(2026, 11, 11, 23, 30, 0, 0, ny), tech.ID},  // Nov 12 04:30 UTC: counts on the 11th
		{time.Date(2026, 11, 11, 8, 0, 0, 0, ny), owner.ID},   // the 11th too
		{time.Date(2026, 10, 30, 12, 0, 0, 0, ny), owner.ID},  // 13 days back, before DST ended: the first day
		{time.Date(2026, 10, 29, 23, 59, 0, 0, ny), owner.ID}, // a day too early
	} {
		if err := st.AddAudit(ctx, store.AuditEvent{At: ev.at, ActorUserID: ev.user, Event: EvLogin}, true); err != nil {
			t.Fatal(err)
		}
	}
	ownerTok := e.login(ownerEmail, ownerPass)
	status, body := e.do("GET", "/api/v1/accounts/"+acme.ID+"/activity", ownerTok, nil)
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	var act wire.Activity
	decode(t, body, &act)
	if act.TimeZone != "America/New_York" || len(act.Days) != 14 {
		t.Fatalf("activity %+v", act)
	}
	if act.Days[0].Date != "2026-10-30" || act.Days[13].Date != "2026-11-12" {
		t.Fatalf("days from %s to %s", act.Days[0].Date, act.Days[13].Date)
	}
	var users []int
	for _, d := range act.Days {
		users = append(users, d.ActiveUsers)
	}
	// The owner's own login just now counts on the 12th.
	if want := []int{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1}; !slices.Equal(users, want) {
		t.Fatalf("active users %v, want %v", users, want)
	}
	status, body = e.do("GET", "/api/v1/accounts/"+acme.ID+"/activity", techTok, nil)
	wantError(t, status, body, http.StatusForbidden, api.CodeForbidden)
	for _, q := range []string{"0", "32", "x", "-1"} {
		status, body = e.do("GET", "/api/v1/accounts/"+acme.ID+"/activity?days="+q, ownerTok, nil)
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	status, body = e.do("GET", "/api/v1/accounts/"+acme.ID+"/activity?days=31", ownerTok, nil)
	decode(t, body, &act)
	if status != http.StatusOK || len(act.Days) != 62 {
		t.Fatalf("31 days: %d, %d days", status, len(act.Days))
	}
}

// TestColumnsAPI: Choose columns per user, through the API: kept across
// logins, one user's never another's, malformed names and too many
// listings refused, nothing without a token.
func TestColumnsAPI(t *testing.T) {
	e := newEnv(t)
	acme := e.acme()
	_, a := e.member(acme.ID, "a@example.com", store.Member)
	_, b := e.member(acme.ID, "b@example.com", store.Member)
	put := func(tok, list string, cols ...string) (int, []byte) {
		return e.do("PUT", "/api/v1/me/columns/"+list, tok, wire.Columns{Columns: cols})
	}
	if status, body := put(a, "users", "name", "email"); status != http.StatusNoContent {
		t.Fatalf("%d %s", status, body)
	}
	status, body := e.do("GET", "/api/v1/me/columns", a, nil)
	var got map[string][]string
	decode(t, body, &got)
	if status != http.StatusOK || !slices.Equal(got["users"], []string{"name", "email"}) {
		t.Fatalf("%d %v", status, got)
	}
	_, body = e.do("GET", "/api/v1/me/columns", b, nil)
	if strings.TrimSpace(string(body)) != "{}" {
		t.Fatalf("another user's columns: %s", body)
	}
	for _, bad := range []struct {
		list string
		cols []string
	}{
		{"Users", []string{"name"}}, {"users", nil}, {"users", []string{"name", "name"}},
		{"users", []string{"a,b"}}, {"users", []string{""}}, {strings.Repeat("x", 33), []string{"name"}},
		{"users", []string{strings.Repeat("c", 41)}}, {"users", make([]string, 65)},
	} {
		status, body := put(a, bad.list, bad.cols...)
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	for i := 1; i < store.MaxColumnLists; i++ {
		if status, body := put(a, fmt.Sprintf("list%d", i), "c"); status != http.StatusNoContent {
			t.Fatalf("%d %s", status, body)
		}
	}
	status, body = put(a, "one-more", "c")
	wantError(t, status, body, http.StatusConflict, api.CodeLimit)
	status, body = put("", "users", "name")
	wantError(t, status, body, http.StatusUnauthorized, api.CodeUnauthorized)
	_, body = e.do("GET", "/api/v1/me/columns", a, nil)
	decode(t, body, &got)
	if !slices.Equal(got["users"], []string{"name", "email"}) || len(got) != store.MaxColumnLists {
		t.Fatalf("after the refusals: %d listings, users %v", len(got), got["users"])
	}
}
