package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func TestOnDemandLifecycle(t *testing.T) { storetest.Run(t, testOnDemandLifecycle) }

func testOnDemandLifecycle(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s := open(t, be.Fresh(t))
	a, err := s.CreateAccount(ctx, Account{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, User{Email: "tech@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	o, err := s.CreateOnDemand(ctx, OnDemand{AccountID: a.ID, CreatedBy: u.ID, KeyHash: "h1", KeySealed: "sealed",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil || o.State != ODCreated {
		t.Fatalf("create: %+v %v", o, err)
	}
	if _, err := s.CreateOnDemand(ctx, OnDemand{AccountID: a.ID, CreatedBy: u.ID, KeyHash: "h1", KeySealed: "x",
		CreatedAt: now, ExpiresAt: now}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a taken key hash: %v, want ErrConflict", err)
	}
	got, err := s.OnDemandByKeyHash(ctx, "h1")
	if err != nil || got.ID != o.ID || got.KeySealed != "sealed" || !got.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("by key: %+v %v", got, err)
	}

	// The single use: an ephemeral device, listed nowhere.
	inv := Inventory{Hostname: "laptop", OS: "windows", LoggedInUser: "ann"}
	j, d, err := s.JoinOnDemand(ctx, o.ID, "pubkey-1", inv, now.Add(time.Minute))
	if err != nil || j.State != ODWaiting || j.DeviceID != d.ID || !d.OnDemand || d.State != Enrolled {
		t.Fatalf("join: %+v %+v %v", j, d, err)
	}
	if _, _, err := s.JoinOnDemand(ctx, o.ID, "pubkey-2", inv, now.Add(2*time.Minute)); !errors.Is(err, ErrODState) {
		t.Fatalf("second join: %v, want ErrODState", err)
	}
	if dd, err := s.Device(ctx, d.ID); err != nil || !dd.OnDemand || dd.Hostname != "laptop" {
		t.Fatalf("device: %+v %v", dd, err)
	}
	for name, list := range map[string]func() ([]Device, error){
		"all":         func() ([]Device, error) { return s.Devices(ctx, nil) },
		"account":     func() ([]Device, error) { return s.Devices(ctx, []string{a.ID}) },
		"by hostname": func() ([]Device, error) { return s.DevicesByHostname(ctx, []string{a.ID}, "laptop") },
	} {
		if ds, err := list(); err != nil || len(ds) != 0 {
			t.Fatalf("%s devices list the OnDemand device: %+v %v", name, ds, err)
		}
	}
	snap, err := s.Snapshot(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Devices) != 0 {
		t.Fatalf("the access model holds the OnDemand device: %+v", snap.Devices)
	}
	if byDev, err := s.OnDemandByDevice(ctx, d.ID); err != nil || byDev.ID != o.ID || byDev.User != "ann" {
		t.Fatalf("by device: %+v %v", byDev, err)
	}
	live, err := s.LiveOnDemand(ctx, []string{a.ID})
	if err != nil || len(live) != 1 || live[0].State != ODWaiting {
		t.Fatalf("live: %+v %v", live, err)
	}

	// Start once; an undone start goes back to the queue.
	if ok, err := s.StartOnDemand(ctx, o.ID, "sess-1", u.ID); !ok || err != nil {
		t.Fatalf("start: %v %v", ok, err)
	}
	if ok, err := s.StartOnDemand(ctx, o.ID, "sess-2", u.ID); ok || err != nil {
		t.Fatalf("second start: %v %v, want false", ok, err)
	}
	if err := s.UnstartOnDemand(ctx, o.ID, "sess-1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.StartOnDemand(ctx, o.ID, "sess-3", u.ID); !ok {
		t.Fatal("start after unstart refused")
	}
	if bs, err := s.OnDemandBySession(ctx, "sess-3"); err != nil || bs.ID != o.ID || bs.StartedBy != u.ID {
		t.Fatalf("by session: %+v %v", bs, err)
	}
	if st, err := s.StartedOnDemand(ctx); err != nil || len(st) != 1 {
		t.Fatalf("started: %+v %v", st, err)
	}

	// The end kills the key once and deletes the device.
	if ok, err := s.EndOnDemand(ctx, o.ID, ODEnded, "", "guest_bye", now.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("end: %v %v", ok, err)
	}
	if ok, err := s.EndOnDemand(ctx, o.ID, ODRejected, u.ID, "rejected", now.Add(time.Hour)); ok || err != nil {
		t.Fatalf("second end: %v %v, want false", ok, err)
	}
	if _, err := s.Device(ctx, d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("device after the end: %v, want ErrNotFound", err)
	}
	if e, _ := s.OnDemand(ctx, o.ID); e.State != ODEnded || e.EndReason != "guest_bye" || e.EndedAt.IsZero() {
		t.Fatalf("after the end: %+v", e)
	}
	if _, err := s.EndOnDemand(ctx, o.ID, ODWaiting, "", "", now); err == nil {
		t.Fatal("ending into a live state accepted")
	}

	// Due: a key never used after 24 h, an agent waiting for an hour.
	fresh, _ := s.CreateOnDemand(ctx, OnDemand{AccountID: a.ID, CreatedBy: u.ID, KeyHash: "h2", KeySealed: "s",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	queued, _ := s.CreateOnDemand(ctx, OnDemand{AccountID: a.ID, CreatedBy: u.ID, KeyHash: "h3", KeySealed: "s",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	if _, _, err := s.JoinOnDemand(ctx, queued.ID, "pubkey-3", inv, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	due := func(at time.Time) []string {
		t.Helper()
		os, err := s.DueOnDemand(ctx, at, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range os {
			ids = append(ids, o.ID)
		}
		return ids
	}
	if ids := due(now.Add(69 * time.Minute)); len(ids) != 0 {
		t.Fatalf("due after 69 min: %v", ids)
	}
	if ids := due(now.Add(70 * time.Minute)); len(ids) != 1 || ids[0] != queued.ID {
		t.Fatalf("due after 70 min: %v, want the queued one", ids)
	}
	if ids := due(now.Add(24 * time.Hour)); len(ids) != 2 || ids[0] != fresh.ID {
		t.Fatalf("due after 24 h: %v, want both", ids)
	}

	// Dead keys are pruned after a while, which frees their hashes.
	if n, err := s.PruneOnDemand(ctx, now.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune too early: %d %v", n, err)
	}
	if n, err := s.PruneOnDemand(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, err := s.CreateOnDemand(ctx, OnDemand{AccountID: a.ID, CreatedBy: u.ID, KeyHash: "h1", KeySealed: "s",
		CreatedAt: now, ExpiresAt: now}); err != nil {
		t.Fatalf("reusing a pruned key hash: %v", err)
	}
}
