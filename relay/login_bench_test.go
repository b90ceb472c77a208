package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tandem-rc/tandem/transport/wire"
)

// BenchmarkLogin measures full logins through the HTTP API, parallel as
// GOMAXPROCS allows; argon2id (m=19 MiB, t=2) dominates. Reports logins/s.
func BenchmarkLogin(b *testing.B) {
	s, err := New(Config{DataDir: b.TempDir(), Limits: Limits{LoginBurst: 1 << 30, LoginIPBurst: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	b.Cleanup(func() { ts.Close(); s.Close() })
	if _, err := s.Admin().Init(context.Background(), ownerEmail, ownerPass, "Acme"); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(wire.LoginRequest{Email: ownerEmail, Password: ownerPass})
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := ts.Client().Post(ts.URL+"/api/v1/login", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("login: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
