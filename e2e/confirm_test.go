package e2e

import (
	"context"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestConfirmByEmailConnect: the guest's Connect waits while the relay
// emails the confirming group (a real .eml in the outbox), a member allows
// through the link's page, and the session starts.
func TestConfirmByEmailConnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outbox := t.TempDir()
	x := captest.StartX(t, 320, 240)
	e := newEnvWith(t, relaytest.Outbox(t, outbox))
	h := e.startHost(t, x.Display, false)
	st := e.srv.Store()
	acct, _ := st.AccountByName(ctx, "Acme IT")
	hash, _ := secret.HashPassword(ownerPassword)
	user := func(email string) string {
		u, err := st.CreateUser(ctx, store.User{Email: email, PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddMembership(ctx, store.Membership{AccountID: acct.ID, UserID: u.ID, Type: store.Member}); err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	tech, boss := user("tech@example.com"), user("boss@example.com")
	techs, _ := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Techs", Kind: policy.GroupUser, Active: true})
	bosses, _ := st.CreateGroup(ctx, store.Group{AccountID: acct.ID, Name: "Bosses", Kind: policy.GroupUser, Active: true})
	st.AddGroupMember(ctx, techs.ID, tech)
	st.AddGroupMember(ctx, bosses.ID, boss)
	role, _ := st.CreateRole(ctx, store.RoleRow{AccountID: acct.ID, Role: policy.Role{Name: "Ask", Type: policy.RoleConfirmAccess,
		Enabled: true, Confirm: policy.ConfirmRules{EmailGroupIDs: []string{bosses.ID}}}})
	for _, a := range []policy.Assignment{
		{Name: "control", Active: true, RoleID: policy.RoleIDAdministrator, UserGroupIDs: []string{techs.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}},
		{Name: "ask", Active: true, RoleID: role.Role.ID, UserGroupIDs: []string{techs.ID}, DeviceGroupIDs: []string{policy.GroupIDEverything}},
	} {
		if _, err := st.CreateAssignment(ctx, acct.ID, a); err != nil {
			t.Fatal(err)
		}
	}

	c, _ := guest.NewClient(e.url, "")
	if _, err := c.Login(ctx, "tech@example.com", ownerPassword); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan *wire.Confirmation, 1)
	type result struct {
		s   *guest.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.Connect(ctx, h.hostname, guest.ConnectOptions{Transport: transport.Config{Loopback: true, Logger: e.log},
			Timeout: 45 * time.Second, ConfirmPoll: 50 * time.Millisecond, OnConfirmation: func(cf *wire.Confirmation) { waiting <- cf }})
		done <- result{s, err}
	}()
	select {
	case cf := <-waiting:
		if cf.Status != "pending" {
			t.Fatalf("confirmation %+v", cf)
		}
	case r := <-done:
		t.Fatalf("Connect returned without waiting: %v", r.err)
	}

	link := linkFromOutbox(t, outbox, "boss@example.com")
	resp, err := http.PostForm(link, url.Values{"decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("allow: %d", resp.StatusCode)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Connect after allow: %v", r.err)
	}
	defer r.s.Close()
	if len(r.s.Perms) != len(policy.AllPermissions) {
		t.Fatalf("permissions %v", r.s.Perms)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/c/[A-Za-z0-9_-]+`)

func linkFromOutbox(t *testing.T, dir, to string) string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		f, err := os.Open(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		if strings.Contains(m.Header.Get("To"), to) {
			text := readText(t, m)
			f.Close()
			if l := linkRE.FindString(text); l != "" {
				return l
			}
			t.Fatalf("no link in %q", text)
		}
		f.Close()
	}
	t.Fatalf("no mail to %s in %d files", to, len(ents))
	return ""
}
