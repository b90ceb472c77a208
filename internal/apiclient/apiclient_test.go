package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s.URL
}

// The request goes out as JSON with the token; a 2xx answer is decoded.
func TestCallSendsAndDecodes(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/x" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request shape", http.StatusTeapot)
			return
		}
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		if string(b[:n]) != `{"a":1}` {
			http.Error(w, "bad body "+string(b[:n]), http.StatusTeapot)
			return
		}
		_, _ = w.Write([]byte(`{"b":"two"}`))
	})
	var out struct{ B string }
	if err := Call(context.Background(), nil, http.MethodPost, url, "/api/v1/x", "tok", map[string]int{"a": 1}, &out); err != nil {
		t.Fatal(err)
	}
	if out.B != "two" {
		t.Fatalf("out %+v", out)
	}
}

// The relay's error body becomes an *Error with Retry-After; a body that
// is not the relay's still gives the status.
func TestCallErrors(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/throttled":
			w.Header().Set("Retry-After", "90")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"throttled","message":"wait"}}`))
		case "/garbage":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`<html>proxy error</html>`))
		case "/badjson":
			_, _ = w.Write([]byte(`{"b":`))
		}
	})
	err := Call(context.Background(), nil, http.MethodGet, url, "/throttled", "", nil, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "throttled" || ae.Message != "wait" || ae.RetryAfter != 90*time.Second {
		t.Fatalf("throttled: %#v", err)
	}
	err = Call(context.Background(), nil, http.MethodGet, url, "/garbage", "", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Error() != "relay answered 502 Bad Gateway" {
		t.Fatalf("garbage: %#v", err)
	}
	var out struct{ B string }
	if err := Call(context.Background(), nil, http.MethodGet, url, "/badjson", "", nil, &out); err == nil || errors.As(err, &ae) {
		t.Fatalf("bad json: %v", err)
	}
}

// No answer at all is ErrUnreachable, naming the relay.
func TestCallUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = Call(context.Background(), nil, http.MethodGet, "http://"+addr, "/x", "", nil, nil)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("%v", err)
	}
}
