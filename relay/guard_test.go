package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
)

// doFrom sends a request through the relay's handler as if from the
// client address remote ("192.0.2.7:4242", "[2001:db8::1]:4242"): the
// tests' way to be several sources at once on one loopback machine.
func (e *env) doFrom(remote, method, path string, body any) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	req.RemoteAddr = remote
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}
