package relay

import (
	"net/http"
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestCreatedByInviterAndPackage: "Created by" (spec 4.1.4) names who
// invited a member, not the member's own acceptance; a member who joined
// otherwise keeps the audit log's creator; an enrolled device names the
// deployment package that enrolled it.
func TestCreatedByInviterAndPackage(t *testing.T) {
	mb := &mailbox{}
	e := newEnv(t, withMail(mb))
	acme := e.acme().ID
	base := "/api/v1/accounts/" + acme
	_, gmTok := e.member(acme, "gm@example.com", store.GroupManager)
	if status, body := e.do("POST", base+"/invites", gmTok, wire.InviteRequest{Email: "nia@example.com", Name: "Nia", Type: "user"}); status != http.StatusCreated {
		t.Fatalf("invite: %d %s", status, body)
	}
	if status, body := e.do("POST", "/api/v1/invites/accept", "", wire.InviteAccept{Token: mb.lastSecret(t, "nia@example.com"), Password: "N3wPassword"}); status != http.StatusCreated {
		t.Fatalf("accept: %d %s", status, body)
	}
	owner := e.login(ownerEmail, ownerPass)
	createdBy := func(path string) string {
		t.Helper()
		status, body := e.do("GET", base+path, owner, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var v struct {
			CreatedBy string `json:"created_by"`
		}
		decode(t, body, &v)
		return v.CreatedBy
	}
	nia := e.accountUser(acme, "nia@example.com")
	if got := createdBy("/users/" + nia.User.ID); got != "gm" {
		t.Errorf("the invited member was created by %q, want the inviter gm", got)
	}
	// A user an administrator created directly: the audit log's creator.
	gm := e.accountUser(acme, "gm@example.com")
	if got := createdBy("/users/" + gm.User.ID); got != "" {
		t.Errorf("a member added without an invitation: created by %q", got)
	}

	_, key := e.pkg(PackageSpec{Name: "Front desk PCs"})
	dev := e.enroll(key, "pc-1")
	if got := createdBy("/devices/" + dev.id); got != "package Front desk PCs" {
		t.Errorf("the enrolled device was created by %q", got)
	}
}
