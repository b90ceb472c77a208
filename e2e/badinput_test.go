package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/installer"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Bad input across the parts: each gets a clear error and changes nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("wrong enrollment key", func(t *testing.T) {
		dir := t.TempDir()
		for _, key := range []string{"", "not-a-key", e.key + "X", strings.ToLower(e.key[:len(e.key)-1])} {
			_, err := installer.Enroll(ctx, nil, e.url, key, dir, &wire.Inventory{Hostname: "intruder", OS: "linux"})
			if !errors.Is(err, installer.ErrEnrollmentRefused) {
				t.Fatalf("key %q: err = %v, want ErrEnrollmentRefused", key, err)
			}
			if _, err := installer.Load(dir); !errors.Is(err, installer.ErrNotEnrolled) {
				t.Fatalf("a refused enrollment left a config behind: %v", err)
			}
		}
		c := e.login(t)
		ds, err := c.Devices(ctx)
		if err != nil || len(ds) != 0 {
			t.Fatalf("devices after refused enrollments: %v, %v", ds, err)
		}
	})

	t.Run("guest without a token", func(t *testing.T) {
		c, err := guest.NewClient(e.url, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Devices(ctx); !errors.Is(err, guest.ErrUnauthorized) {
			t.Fatalf("devices without login: %v", err)
		}
		c.Token = "forged-token"
		if _, err := c.RequestSession(ctx, "anything", ""); !errors.Is(err, guest.ErrUnauthorized) {
			t.Fatalf("session with a forged token: %v", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c, _ := guest.NewClient(e.url, "")
		_, err := c.Login(ctx, ownerEmail, "Wrong-Passw0rd")
		var ae *guest.APIError
		if !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("login with a wrong password: %v", err)
		}
	})

	t.Run("device that does not exist", func(t *testing.T) {
		c := e.login(t)
		_, err := c.Connect(ctx, "00000000-0000-0000-0000-000000000000", guest.ConnectOptions{})
		var ae *guest.APIError
		if !errors.As(err, &ae) || ae.Status != 404 {
			t.Fatalf("connect to a missing device: %v", err)
		}
	})
}
