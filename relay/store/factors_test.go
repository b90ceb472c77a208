package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestSecondFactors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		s := open(t, be.Fresh(t))
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		u, err := s.CreateUser(ctx, User{Email: "m@example.com", PasswordHash: "x", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}

		// TOTP: pending, replaced while pending, confirmed once, steps only forward.
		if err := s.PutPendingTOTP(ctx, u.ID, "sealed-1", now); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.UseTOTPStep(ctx, u.ID, 10, false, now); err != nil || ok {
			t.Fatalf("a pending secret signed in: %v %v", ok, err)
		}
		if err := s.PutPendingTOTP(ctx, u.ID, "sealed-2", now); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.UseTOTPStep(ctx, u.ID, 10, true, now); err != nil || !ok {
			t.Fatalf("confirm: %v %v", ok, err)
		}
		if ok, _ := s.UseTOTPStep(ctx, u.ID, 11, true, now); ok {
			t.Fatal("confirmed twice")
		}
		if err := s.PutPendingTOTP(ctx, u.ID, "sealed-3", now); !errors.Is(err, ErrConflict) {
			t.Fatalf("a new secret over a confirmed one: %v", err)
		}
		got, err := s.UserTOTP(ctx, u.ID)
		if err != nil || got.Secret != "sealed-2" || got.LastStep != 10 || !got.ConfirmedAt.Equal(now) {
			t.Fatalf("totp %+v %v", got, err)
		}
		// One step, used at once from many places: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.UseTOTPStep(ctx, u.ID, 11, false, now)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				if ok {
					wins++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("step 11 accepted %d times", wins)
		}
		for _, step := range []int64{11, 10, 5} {
			if ok, _ := s.UseTOTPStep(ctx, u.ID, step, false, now); ok {
				t.Fatalf("step %d accepted after 11", step)
			}
		}
		if err := s.DeleteTOTP(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTOTP(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}

		// Account factors: none stored is nil (all), empty is empty.
		acct, err := s.CreateAccount(ctx, Account{Name: "A", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := s.AccountFactors(ctx, acct.ID); err != nil || f != nil {
			t.Fatalf("unset factors: %v %v", f, err)
		}
		for _, want := range [][]string{{"totp", "email"}, {}} {
			if err := s.SetAccountFactors(ctx, acct.ID, want); err != nil {
				t.Fatal(err)
			}
			if f, err := s.AccountFactors(ctx, acct.ID); err != nil || len(f) != len(want) || (len(f) > 0 && f[1] != "email") {
				t.Fatalf("factors %v %v, want %v", f, err, want)
			}
		}

		// Passkeys and their ceremonies (taken once, expired ones gone).
		if err := s.AddPasskey(ctx, Passkey{ID: "cred-1", UserID: u.ID, Name: "Laptop", Credential: "{}", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddPasskey(ctx, Passkey{ID: "cred-1", UserID: u.ID, Credential: "{}", CreatedAt: now}); !errors.Is(err, ErrConflict) {
			t.Fatalf("same credential twice: %v", err)
		}
		if err := s.UsePasskey(ctx, u.ID, "cred-1", `{"n":2}`, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.UsePasskey(ctx, "someone-else", "cred-1", `{}`, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another user's passkey used: %v", err)
		}
		ps, err := s.Passkeys(ctx, u.ID)
		if err != nil || len(ps) != 1 || ps[0].Credential != `{"n":2}` || !ps[0].LastUsed.Equal(now.Add(time.Minute)) {
			t.Fatalf("passkeys %+v %v", ps, err)
		}
		if err := s.PutCeremony(ctx, "h1", u.ID, "login", "s1", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCeremony(ctx, "h1", u.ID, "login", "s2", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.TakeCeremony(ctx, "h1", "register", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("taken for another purpose: %v", err)
		}
		if uid, st, err := s.TakeCeremony(ctx, "h1", "login", now); err != nil || uid != u.ID || st != "s2" {
			t.Fatalf("take: %q %q %v", uid, st, err)
		}
		if _, _, err := s.TakeCeremony(ctx, "h1", "login", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("taken twice: %v", err)
		}
		if err := s.PutCeremony(ctx, "h2", u.ID, "register", "s", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.TakeCeremony(ctx, "h2", "register", now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired ceremony taken: %v", err)
		}
		if err := s.DeletePasskey(ctx, u.ID, "cred-1"); err != nil {
			t.Fatal(err)
		}
	})
}
