package relay

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestHealthInfoAndIndex(t *testing.T) {
	e := newEnv(t)
	status, body := e.do("GET", "/api/v1/health", "", nil)
	if status != 200 || strings.TrimSpace(string(body)) != `{"ok":true}` {
		t.Fatalf("health: %d %s", status, body)
	}
	status, body = e.do("GET", "/api/v1/relay", "", nil)
	var info wire.RelayInfo
	decode(t, body, &info)
	if status != 200 || info.PublicKey != e.srv.PublicKeyString() || info.Version != "test" || info.Protocol != wire.Version {
		t.Fatalf("relay info: %d %+v", status, info)
	}
	status, body = e.do("GET", "/signin", "", nil)
	if status != 200 || !bytes.Contains(body, []byte("Sign in")) || !bytes.Contains(body, []byte("Tandem test")) {
		t.Fatalf("portal sign-in page: %d %s", status, body)
	}
	status, body = e.do("GET", "/api/v1/nothing", "", nil)
	wantError(t, status, body, http.StatusNotFound, api.CodeNotFound)
	status, body = e.do("DELETE", "/api/v1/devices", "", nil)
	wantError(t, status, body, http.StatusMethodNotAllowed, api.CodeMethod)
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t)
	// Oversized: a valid JSON object larger than the limit.
	big := []byte(`{"email":"` + strings.Repeat("a", api.MaxBodySize) + `","password":"x"}`)
	status, body := e.do("POST", "/api/v1/login", "", big)
	wantError(t, status, body, http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge)

	for name, b := range map[string]string{
		"unknown field": `{"email":"a@b.c","password":"x","admin":true}`,
		"malformed":     `{"email":`,
		"not an object": `["a"]`,
		"wrong type":    `{"email":1,"password":"x"}`,
		"trailing data": `{"email":"a@b.c","password":"x"} {}`,
		"empty":         ``,
	} {
		status, body := e.do("POST", "/api/v1/login", "", []byte(b))
		t.Run(name, func(t *testing.T) { wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest) })
	}
	for _, path := range []string{"/api/v1/enroll", "/api/v1/sessions"} {
		tok := e.login(ownerEmail, ownerPass)
		status, body := e.do("POST", path, tok, []byte(`{"nope":1}`))
		wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest)
	}
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/login", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: %d, want 415", resp.StatusCode)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "P"})
	d := e.enroll(key, "pc")
	a := e.online(d)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	a.expectClosed()
}
