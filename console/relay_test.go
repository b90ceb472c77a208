package console

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestLoginAndDevicesAgainstTheRelay drives the console's UI (Fyne's test
// driver) against a real relay: a wrong password, a login, starring a
// device, then email MFA with the code the relay mailed (to its outbox)
// and with a recovery code.
func TestLoginAndDevicesAgainstTheRelay(t *testing.T) {
	log := testLogger()
	outbox := t.TempDir()
	url, key := startRelay(t, log, relaytest.Outbox(t, outbox))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An enrolled device that never connected.
	if _, err := installer.Enroll(ctx, nil, url, key, t.TempDir(), &wire.Inventory{Hostname: "pc-real", OS: "linux"}); err != nil {
		t.Fatal(err)
	}

	h := newHarnessAPI(t, nil, newClientAPI)
	login := func(password string) {
		t.Helper()
		h.u.relayEntry.SetText(url)
		h.u.userEntry.SetText(ownerEmail)
		h.u.passEntry.SetText(password)
		test.Tap(h.u.loginBtn)
	}
	login("not-the-password")
	if h.m.Phase() != PhaseLogin || !strings.HasPrefix(h.u.loginErr.Text, "Wrong email or password") {
		t.Fatalf("wrong password: phase %v, %q", h.m.Phase(), h.u.loginErr.Text)
	}
	login(ownerPassword)
	if h.m.Phase() != PhaseMain {
		t.Fatalf("login: %q", h.u.loginErr.Text)
	}
	if rows := h.deviceRows(); len(rows) != 1 || !strings.HasPrefix(rows[0], "-|pc-real|never seen|linux|") {
		t.Fatalf("devices %q", rows)
	}
	// The star is kept by the relay.
	h.u.devs.table.Select(widget.TableCellID{Row: 0, Col: int(ColFavorite)})
	h.u.refresh()
	if rows := h.deviceRows(); !strings.HasPrefix(rows[0], "*|pc-real|") {
		t.Fatalf("after starring, the relay lists %q", rows)
	}
	h.u.devs.table.Select(widget.TableCellID{Row: 0, Col: int(ColFavorite)})
	h.u.refresh()
	if rows := h.deviceRows(); !strings.HasPrefix(rows[0], "-|pc-real|") {
		t.Fatalf("after unstarring, the relay lists %q", rows)
	}

	// Enforce email MFA in the account and make recovery codes.
	call := h.rawCall(ctx, url)
	account := h.m.Account()
	call(http.MethodPut, "/api/v1/accounts/"+account+"/security", wire.Security{MFA: "enforced"}, nil)
	var rc wire.RecoveryCodes
	call(http.MethodPost, "/api/v1/me/recovery-codes", nil, &rc)
	if len(rc.Codes) == 0 {
		t.Fatal("no recovery codes")
	}

	test.Tap(findButton(t, h.u.mainView, "Log out"))
	codeRE := regexp.MustCompile(`code is:\s*(\d{6})`)
	for _, c := range []struct{ name, code string }{{"emailed code", ""}, {"recovery code", strings.ToLower(rc.Codes[0])}} {
		old, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		for _, f := range old {
			os.Remove(f)
		}
		login(ownerPassword)
		if h.m.Phase() != PhaseMFA {
			t.Fatalf("%s: no code step: %q", c.name, h.u.loginErr.Text)
		}
		code := c.code
		if code == "" {
			// The mail this login sent.
			files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
			slices.Sort(files)
			if len(files) == 0 {
				t.Fatal("the relay mailed no code")
			}
			b, err := os.ReadFile(files[len(files)-1])
			if err != nil {
				t.Fatal(err)
			}
			m := codeRE.FindSubmatch(b)
			if m == nil {
				t.Fatalf("no code in the mail:\n%s", b)
			}
			code = string(m[1])
		}
		test.Type(h.u.codeEntry, code)
		test.Tap(h.u.codeBtn)
		if h.m.Phase() != PhaseMain {
			t.Fatalf("%s refused: %q", c.name, h.u.codeErr.Text)
		}
		test.Tap(findButton(t, h.u.mainView, "Log out"))
	}
}

// rawCall returns a caller of the relay's API with the console's token,
// for what the console does not do itself (administration, the agent's
// join); it fails the test unless the answer is 2xx.
func (h *harness) rawCall(ctx context.Context, url string) func(method, path string, in, out any) {
	return func(method, path string, in, out any) {
		h.t.Helper()
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, url+path, body)
		if api, err := h.m.client(); err == nil {
			req.Header.Set("Authorization", "Bearer "+api.Token())
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(resp.Body)
			h.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				h.t.Fatal(err)
			}
		}
	}
}

// TestSessionsAgainstTheRelay drives the My sessions tab against a real
// relay: a refusal without an OnDemand role, then create (key and link),
// copy, email, the queue once an agent joined (its join is the HTTP call
// tandem-ondemand makes), a start the relay refuses (the agent is not
// connected) and reject.
func TestSessionsAgainstTheRelay(t *testing.T) {
	log := testLogger()
	outbox := t.TempDir()
	url, _ := startRelay(t, log, relaytest.Outbox(t, outbox))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := newHarnessAPI(t, nil, newClientAPI)
	h.m.now = time.Now // the relay's times are real
	h.u.relayEntry.SetText(url)
	h.u.userEntry.SetText(ownerEmail)
	h.u.passEntry.SetText(ownerPassword)
	test.Tap(h.u.loginBtn)
	if h.m.Phase() != PhaseMain {
		t.Fatalf("login: %q", h.u.loginErr.Text)
	}
	call := h.rawCall(ctx, url)
	account := h.m.Account()

	// No OnDemand role yet: the relay's refusal is shown.
	test.Tap(h.u.sess.create)
	if got := h.overlayTexts(); !strings.Contains(got, "You may not create OnDemand sessions in Acme IT") {
		t.Fatalf("create without a role shows %q", got)
	}
	h.closeDialogs()
	call(http.MethodPost, "/api/v1/accounts/"+account+"/assignments", wire.Assignment{Name: "OnDemand admins", Active: true,
		RoleID: policy.RoleIDFullAccessOnDemand, UserGroups: []string{store.AdministratorsGroupID(account)}}, nil)

	test.Tap(h.u.sess.create)
	kd := h.u.sess.keyDialog
	if kd == nil {
		t.Fatalf("no key dialog; shown: %q", h.overlayTexts())
	}
	key := strings.ReplaceAll(kd.key.Text, " ", "")
	if !regexp.MustCompile(`^\d{3} \d{3} \d{3}$`).MatchString(kd.key.Text) {
		t.Fatalf("key shown as %q", kd.key.Text)
	}
	link := url + "/s/" + key
	test.Tap(kd.copy)
	if got := h.u.app.Clipboard().Content(); got != link {
		t.Errorf("clipboard %q, want %q", got, link)
	}
	test.Type(kd.email, "jane@example.com")
	test.Tap(kd.send)
	if kd.result.Text != "Sent to jane@example.com." {
		t.Fatalf("email: %q", kd.result.Text)
	}
	files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	var mailed bool
	for _, f := range files {
		b, _ := os.ReadFile(f)
		mailed = mailed || (bytes.Contains(b, []byte("jane@example.com")) && bytes.Contains(b, []byte("/s/"+key)))
	}
	if !mailed {
		t.Errorf("no mail to jane@example.com with the link among %d", len(files))
	}
	h.closeDialogs()
	if len(h.u.sess.rows) != 1 || h.u.sess.rows[0].State != wire.OnDemandCreated {
		t.Fatalf("queue after create: %+v", h.u.sess.rows)
	}

	// The end user runs tandem-ondemand: it joins with the key.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	call(http.MethodPost, "/api/v1/ondemand/join", wire.OnDemandJoinRequest{Key: key, PublicKey: base64.StdEncoding.EncodeToString(pub),
		Inventory: &wire.Inventory{Hostname: "jane-pc", OS: "windows", User: "jane"}}, nil)
	h.u.refresh()
	if len(h.u.sess.rows) != 1 {
		t.Fatalf("queue: %+v", h.u.sess.rows)
	}
	o := h.u.sess.newRow()
	h.u.sess.updateRow(0, o)
	r := h.u.sess.widgets[o]
	if r.key.Text != kd.key.Text || r.state.Text != "waiting" || r.by.Text != ownerEmail || r.machine.Text != "jane-pc · windows · jane" ||
		!strings.Contains(r.perms.Text, "view") || !strings.Contains(r.perms.Text, "control") || r.start.Disabled() ||
		!regexp.MustCompile(`^0\d:\d\d$`).MatchString(r.waited.Text) {
		t.Errorf("queue row: %q %q %q %q %q %q start disabled %v", r.key.Text, r.state.Text, r.by.Text, r.waited.Text,
			r.machine.Text, r.perms.Text, r.start.Disabled())
	}

	// Start while the agent is not connected (only its join ran): the
	// relay's refusal is shown and no window opens.
	test.Tap(r.start)
	if got := h.overlayTexts(); !strings.Contains(got, "The OnDemand program on jane-pc is not connected right now") {
		t.Errorf("start without the agent shows %q", got)
	}
	if len(h.opened) != 0 {
		t.Error("a refused start opened a window")
	}
	h.closeDialogs()

	// Reject: the key is dead, the queue empty.
	test.Tap(r.reject)
	test.Tap(h.button("Yes"))
	h.u.refresh()
	if len(h.u.sess.rows) != 0 || !h.u.sess.empty.Visible() {
		t.Errorf("after reject the queue shows %+v", h.u.sess.rows)
	}
	var list []wire.OnDemandSession
	call(http.MethodGet, "/api/v1/ondemand", nil, &list)
	for _, s := range list {
		if s.Key == key && s.State != wire.OnDemandRejected {
			t.Errorf("the relay lists the rejected key as %q", s.State)
		}
	}
}
