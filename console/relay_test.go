package console

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/tandem-rc/tandem/relay"
	"github.com/tandem-rc/tandem/relay/mail"
	"github.com/tandem-rc/tandem/transport/wire"
)

// TestLoginAndDevicesAgainstTheRelay drives the console's UI (Fyne's test
// driver) against a real relay: a wrong password, a login, starring a
// device, then email MFA with the code the relay mailed (to its outbox)
// and with a recovery code.
func TestLoginAndDevicesAgainstTheRelay(t *testing.T) {
	log := testLogger()
	outbox := t.TempDir()
	url, key := startRelay(t, log, func(c *relay.Config) {
		o, err := mail.NewOutbox(mail.OutboxConfig{Dir: outbox}, log)
		if err != nil {
			t.Fatal(err)
		}
		c.Mail = o
	})
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
	api, _ := h.m.client()
	call := func(method, path string, in, out any) {
		t.Helper()
		b, _ := json.Marshal(in)
		req, _ := http.NewRequestWithContext(ctx, method, url+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+api.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
	}
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
