package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestUnlockUser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, be storetest.Backend) {
		s := open(t, be.Fresh(t))
		ctx := context.Background()
		u, err := s.CreateUser(ctx, User{Email: "o@example.com", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if at, err := s.LastUnlock(ctx, u.ID); err != nil || !at.IsZero() {
			t.Fatalf("never unlocked: %v %v", at, err)
		}
		now := time.UnixMilli(1_700_000_000_123)
		for range 5 {
			if _, err := s.LoginFailed(ctx, u.ID, now, 5, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if u, _ = s.User(ctx, u.ID); !now.Before(u.LockedUntil) {
			t.Fatal("not locked")
		}
		for _, at := range []time.Time{now, now.Add(time.Minute)} { // the second replaces the first
			if err := s.UnlockUser(ctx, u.ID, at); err != nil {
				t.Fatal(err)
			}
			if got, err := s.LastUnlock(ctx, u.ID); err != nil || !got.Equal(at) {
				t.Fatalf("last unlock %v %v, want %v", got, err, at)
			}
		}
		if u, _ = s.User(ctx, u.ID); !u.LockedUntil.IsZero() || u.FailedLogins != 0 {
			t.Fatalf("still locked: %+v", u)
		}
		if err := s.UnlockUser(ctx, "nobody", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
