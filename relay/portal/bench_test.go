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
	benchPages(b, fleet10k(b), []struct{ name, page, want string }{
		{"first", "/devices", "pc-0"},
		{"filtered", "/devices?f.name=pc-09&v.os=windows&sort=-hostname&page=3&size=25", "pc-0"},
	})
}

// BenchmarkDashboard10k renders the Dashboard of the same 10,000-device
// account as its owner: the cards come from the counts endpoint, so no
// device row is read or sent.
func BenchmarkDashboard10k(b *testing.B) {
	benchPages(b, fleet10k(b), []struct{ name, page, want string }{
		{"owner", "/", `<a href="/devices">10000</a>`},
	})
}

// fleet10k is a relay whose account has 10,000 enrolled devices, and its
// owner's session token.
func fleet10k(b *testing.B) fleet {
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
	rec := httptest.NewRecorder()
	r.Srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body)))
	var login wire.LoginResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.Token == "" {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return fleet{r.Srv.Handler(), login.Token}
}

type fleet struct {
	h     http.Handler
	token string
}

func benchPages(b *testing.B, f fleet, pages []struct{ name, page, want string }) {
	for _, c := range pages {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", c.page, nil)
				req.AddCookie(&http.Cookie{Name: "__Host-tandem", Value: f.token})
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), c.want) {
					b.Fatalf("%s: %d %.300s", c.page, rec.Code, rec.Body)
				}
			}
		})
	}
}
