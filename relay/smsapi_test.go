package relay

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/sms"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// smsGateway is a local SMS service speaking JSON; it keeps the texts.
type smsGateway struct {
	mu    sync.Mutex
	texts []struct{ To, Text string }
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m struct{ To, Text string }
	b, _ := io.ReadAll(r.Body)
	if json.Unmarshal(b, &m) != nil || r.Header.Get("Authorization") != "Bearer gw-key" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.texts = append(g.texts, m)
	g.mu.Unlock()
}

var smsCodeRE = regexp.MustCompile(`\d{6}$`)

func (g *smsGateway) last(t *testing.T, to string) string {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.texts) == 0 || g.texts[len(g.texts)-1].To != to {
		t.Fatalf("no text to %s: %+v", to, g.texts)
	}
	return smsCodeRE.FindString(g.texts[len(g.texts)-1].Text)
}

func withSMS(t *testing.T) (*smsGateway, func(*Config)) {
	g := &smsGateway{}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, func(c *Config) {
		c.SMS = &sms.HTTPGateway{URL: srv.URL + "/send", ContentType: "application/json", Body: `{"to":"{phone}","text":"{message}"}`,
			Header: http.Header{"Authorization": {"Bearer gw-key"}}}
	}
}

// TestSMSFactor: a phone is verified by a texted code, then sign-in asks
// for a code texted to it; a wrong code, a code of another purpose, and a
// used code are refused; 100 guesses at once do not get past the tries.
func TestSMSFactor(t *testing.T) {
	gw, withGW := withSMS(t)
	e := newEnv(t, withGW, func(c *Config) { c.Limits.LoginBurst = 1000; c.Limits.LoginIPBurst = 1000 })
	acme := e.acme().ID
	_, tok := e.member(acme, "m@example.com", store.Member)

	if status, body := e.do("POST", "/api/v1/me/phone", tok, wire.SMSPhone{Phone: "12345"}); status != http.StatusBadRequest {
		t.Fatalf("bad phone: %d %s", status, body)
	}
	if status, body := e.do("POST", "/api/v1/me/phone", tok, wire.SMSPhone{Phone: "+45 12 34 56 78"}); status != http.StatusAccepted {
		t.Fatalf("phone: %d %s", status, body)
	}
	enrol := gw.last(t, "+4512345678")
	// Not signed in with SMS before the number is confirmed.
	e.login("m@example.com", memberPass)
	if status, _ := e.do("POST", "/api/v1/me/phone/confirm", tok, wire.SMSCode{Code: "000000"}); status != http.StatusUnauthorized && enrol != "000000" {
		t.Fatalf("wrong confirm code: %d", status)
	}
	if status, body := e.do("POST", "/api/v1/me/phone/confirm", tok, wire.SMSCode{Code: enrol}); status != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", status, body)
	}
	if len(e.audit(EvPhoneVerified)) != 1 {
		t.Fatal("phone verification not audited")
	}

	ch := e.loginFactors("m@example.com", "sms")
	// The enrolment code is no sign-in code.
	if status, _ := e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: enrol, Factor: "sms"}); status != http.StatusUnauthorized {
		t.Fatalf("enrolment code at sign-in: %d", status)
	}
	if status, body := e.do("POST", "/api/v1/login/mfa/sms", "", wire.LoginMFAEmail{Challenge: ch}); status != http.StatusNoContent {
		t.Fatalf("text the code: %d %s", status, body)
	}
	code := gw.last(t, "+4512345678")
	status, body := e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code, Factor: "sms"})
	var lr wire.LoginResponse
	decode(t, body, &lr)
	if status != http.StatusOK || lr.Token == "" {
		t.Fatalf("sms sign-in: %d %s", status, body)
	}
	ch = e.loginFactors("m@example.com", "sms")
	if status, _ := e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code, Factor: "sms"}); status != http.StatusUnauthorized {
		t.Fatalf("code used twice: %d", status)
	}
	// A second text at once is refused by the send budget.
	e.clock.Advance(31 * time.Second)
	if status, _ := e.do("POST", "/api/v1/login/mfa/sms", "", wire.LoginMFAEmail{Challenge: ch}); status != http.StatusNoContent {
		t.Fatalf("text after 31 s: %d", status)
	}
	if status, _ := e.do("POST", "/api/v1/login/mfa/sms", "", wire.LoginMFAEmail{Challenge: ch}); status != http.StatusTooManyRequests {
		t.Fatalf("text at once again: %d", status)
	}
	code = gw.last(t, "+4512345678")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: wrong, Factor: "sms"})
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusOK] != 0 {
		t.Fatalf("100 guesses: %v", statuses)
	}
	// The code's tries (and the challenge's) are spent: the right code no
	// longer signs in.
	if status, _ := e.do("POST", "/api/v1/login/mfa", "", wire.LoginMFA{Challenge: ch, Code: code, Factor: "sms"}); status == http.StatusOK {
		t.Fatal("right code after 100 guesses")
	}
	// Removing the phone needs the password.
	if status, _ := e.do("DELETE", "/api/v1/me/phone", lr.Token, wire.Reauth{Password: "wrong-Pass-1"}); status == http.StatusNoContent {
		t.Fatal("phone removed with a wrong password")
	}
	if status, body := e.do("DELETE", "/api/v1/me/phone", lr.Token, wire.Reauth{Password: memberPass}); status != http.StatusNoContent {
		t.Fatalf("remove phone: %d %s", status, body)
	}
	e.login("m@example.com", memberPass)
}
