package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/relaytest"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// BenchmarkDevicesPage10k renders the Devices page (the first page, and a
// filtered and sorted one) of an account with 10,000 devices, on the relay
// side: the Portal's handler in-process, its API calls included, the
// access model never cached (relaytest runs with ModelTTL -1, so every
// request loads it cold), SQLite. The target: under 200 ms.
func BenchmarkDevicesPage10k(b *testing.B) {
	r := relaytest.Start(b, nil)
	ctx := context.Background()
	st := r.Srv.Store()
	acct, err := st.AccountByName(ctx, relaytest.Account)
	if err != nil {
		b.Fatal(err)
	}
	_, hash := secret.NewEnrollmentKey()
	if _, err := st.CreatePackage(ctx, store.Package{AccountID: acct.ID, Name: "Fleet", KeyHash: hash,
		EnrollmentState: store.Enrolled, Active: true}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := st.WithTx(ctx, func(tx *store.Store) error {
		for i := range 10_000 {
			if _, err := tx.Enroll(ctx, store.EnrollParams{KeyHash: hash, PublicKey: fmt.Sprintf("pk-%05d", i), Now: now,
				Inventory: store.Inventory{Hostname: fmt.Sprintf("pc-%05d", i), OS: []string{"linux", "windows", "darwin"}[i%3],
					LoggedInUser: fmt.Sprintf("user%d", i%97)}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(wire.LoginRequest{Email: relaytest.OwnerEmail, Password: relaytest.OwnerPassword})
	h := r.Srv.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body)))
	var login wire.LoginResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.Token == "" {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct{ name, page string }{
		{"first", "/devices"},
		{"filtered", "/devices?f.name=pc-09&v.os=windows&sort=-hostname&page=3&size=25"},
	} {
		page := c.page
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", page, nil)
				req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: login.Token})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "pc-0") {
					b.Fatalf("%s: %d %.300s", page, rec.Code, rec.Body)
				}
			}
		})
	}
}
