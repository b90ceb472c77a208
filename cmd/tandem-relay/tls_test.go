package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/tlstest"
)

// startServe runs `serve args...` until the test ends and returns its
// serving URL and log.
func startServe(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"serve"}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v\n%s", err, logs.String())
	}
	go io.Copy(io.Discard, pr)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "tandem-relay: serving ")
	if !ok {
		t.Fatalf("serving line %q", line)
	}
	return url, logs
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlstest.NewCA("serve test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteFiles(t.TempDir(), "relay", "relay.example.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	url, logs := startServe(t, "--listen", "127.0.0.1:0", "--data", dir, "--tls-cert", certFile, "--tls-key", keyFile,
		"--http-listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--turn-tls-listen", "127.0.0.1:0",
		"--turn-allow-peer", "127.0.0.0/8")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("serving %q, want https", url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := client.Get(url + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("health over TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// The API port speaks TLS only.
	if resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/api/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}
	// The plain listener redirects.
	m := regexp.MustCompile(`plain HTTP redirects to https" on=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no redirect listener:\n%s", logs.String())
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get("http://" + m[1] + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != url+"/api/v1/health" {
		t.Fatalf("redirect: %d %q, want %s/api/v1/health", resp.StatusCode, resp.Header.Get("Location"), url)
	}
	if !regexp.MustCompile(`TURN serving.*tcp 127\.0\.0\.1:\d+, tcp 127\.0\.0\.1:\d+`).MatchString(logs.String()) {
		t.Fatalf("TURN over TLS not served:\n%s", logs.String())
	}
}

func TestServeTLSFlagErrors(t *testing.T) {
	ca, err := tlstest.NewCA("serve test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.WriteFiles(t.TempDir(), "relay", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"http-listen without TLS":     {"--http-listen", "127.0.0.1:0"},
		"turn-tls-listen without TLS": {"--turn-tls-listen", "127.0.0.1:0"},
		"cert without key":            {"--tls-cert", certFile},
		"key for the cert swapped":    {"--tls-cert", keyFile, "--tls-key", certFile},
		"files and ACME":              {"--tls-cert", certFile, "--tls-key", keyFile, "--acme-domain", "relay.example.test"},
		"bad allow-list":              {"--turn-allow-peer", "10.0.0.0/40"},
		"turns with TURN off":         {"--tls-cert", certFile, "--tls-key", keyFile, "--turn-listen", "off", "--turn-tls-listen", "127.0.0.1:0"},
	} {
		_, _, err := run(t, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--turn-listen", "127.0.0.1:0"}, args...)...)
		if err == nil {
			t.Errorf("%s: serve started", name)
		}
	}
}
