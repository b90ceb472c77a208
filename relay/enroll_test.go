package relay

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

func (e *env) deviceCount() int {
	e.t.Helper()
	ds, err := e.srv.Store().Devices(context.Background(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ds)
}

func TestEnroll(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "Office"})
	d := e.enroll(key, "pc-1")
	if d.resp.State != "enrolled" || d.resp.RelayPublicKey != e.srv.PublicKeyString() || d.resp.AccountID == "" {
		t.Fatalf("enroll response %+v", d.resp)
	}
	got, err := e.srv.Store().Device(context.Background(), d.id)
	if err != nil || got.Hostname != "pc-1" || got.PublicKey != pubB64(d.key) || got.State != store.Enrolled {
		t.Fatalf("device row %+v %v", got, err)
	}
	if len(e.audit(EvDeviceEnrolled)) != 1 {
		t.Fatal("enrollment not audited")
	}

	// The same public key again: the same device (the key is accepted in any spelling).
	status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: " " + lower(key) + " ", PublicKey: pubB64(d.key)})
	var again wire.EnrollResponse
	decode(t, body, &again)
	if status != http.StatusOK || again.DeviceID != d.id {
		t.Fatalf("re-enroll: %d %s", status, body)
	}
	if e.deviceCount() != 1 {
		t.Fatal("re-enroll created a device")
	}

	// Revoked: the key cannot come back.
	if _, _, err := e.admin.RevokeDevice(context.Background(), d.id); err != nil {
		t.Fatal(err)
	}
	status, body = e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: key, PublicKey: pubB64(d.key)})
	wantError(t, status, body, http.StatusForbidden, api.CodeRevoked)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestEnrollInvalidKey(t *testing.T) {
	e := newEnv(t)
	e.pkg(PackageSpec{Name: "Office"})
	otherKey := func() string {
		// A well-formed key of a package that does not exist here.
		o := newEnv(t)
		_, k := o.pkg(PackageSpec{Name: "Elsewhere"})
		return k
	}()
	for _, k := range []string{otherKey, "not-a-key", "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"} {
		status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: k, PublicKey: pubB64(newKey(t))})
		wantError(t, status, body, http.StatusForbidden, api.CodeInvalidKey)
	}
	if n := e.deviceCount(); n != 0 {
		t.Fatalf("%d devices written by refused enrollments", n)
	}
	evs := e.audit(EvEnrollFailed)
	if len(evs) != 3 || evs[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("refusals audited: %+v", evs)
	}
}

func TestEnrollValidation(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "Office"})
	for name, req := range map[string]wire.EnrollRequest{
		"short public key": {Key: key, PublicKey: "AAAA"},
		"not base64":       {Key: key, PublicKey: "%%%"},
		"no key":           {PublicKey: pubB64(newKey(t))},
		"bad hostname":     {Key: key, PublicKey: pubB64(newKey(t)), Inventory: &wire.Inventory{Hostname: "a\nb"}},
		"bad monitor":      {Key: key, PublicKey: pubB64(newKey(t)), Inventory: &wire.Inventory{Monitors: []wire.MonitorInfo{{Width: -1}}}},
	} {
		status, body := e.do("POST", "/api/v1/enroll", "", req)
		t.Run(name, func(t *testing.T) { wantError(t, status, body, http.StatusBadRequest, api.CodeBadRequest) })
	}
	if n := e.deviceCount(); n != 0 {
		t.Fatalf("%d devices written by invalid requests", n)
	}
}

func TestEnrollPackageRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()

	off, offKey := e.pkg(PackageSpec{Name: "Disabled"})
	if err := e.srv.Store().SetPackageActive(ctx, off.ID, false); err != nil {
		t.Fatal(err)
	}
	_, expiredKey := e.pkg(PackageSpec{Name: "Expired", ValidFrom: now.Add(-48 * time.Hour), ValidTo: now.Add(-time.Hour)})
	_, futureKey := e.pkg(PackageSpec{Name: "Future", ValidFrom: now.Add(time.Hour)})
	_, oneKey := e.pkg(PackageSpec{Name: "One", MaxDevices: 1})

	for _, tc := range []struct{ key, code string }{
		{offKey, api.CodePackageInactive}, {expiredKey, api.CodePackageExpired}, {futureKey, api.CodePackageExpired},
	} {
		status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: tc.key, PublicKey: pubB64(newKey(t))})
		wantError(t, status, body, http.StatusForbidden, tc.code)
	}
	first := e.enroll(oneKey, "first")
	status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: oneKey, PublicKey: pubB64(newKey(t))})
	wantError(t, status, body, http.StatusForbidden, api.CodePackageFull)
	// The enrolled one may still re-enroll.
	if status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: oneKey, PublicKey: pubB64(first.key)}); status != 200 {
		t.Fatalf("re-enroll in a full package: %d %s", status, body)
	}
	// Once the future package's time comes, it works.
	e.clock.Advance(2 * time.Hour)
	e.enroll(futureKey, "later")
	if n := e.deviceCount(); n != 2 {
		t.Fatalf("%d devices, want 2", n)
	}
}

func TestEnrollPending(t *testing.T) {
	e := newEnv(t)
	_, key := e.pkg(PackageSpec{Name: "Review", Pending: true})
	d := e.enroll(key, "pc")
	if d.resp.State != "pending" {
		t.Fatalf("state %q, want pending", d.resp.State)
	}
	a, first := e.agent(d)
	if first.Type != wire.SigError || first.Code != "pending" {
		t.Fatalf("pending device got %s{%s}", first.Type, first.Code)
	}
	a.expectClosed()
	if _, changed, err := e.admin.EnrollDevice(context.Background(), d.id); err != nil || !changed {
		t.Fatalf("approve: %v %v", changed, err)
	}
	e.online(d)
}

func TestEnrollThrottle(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.EnrollBurst = 3; c.Limits.EnrollEvery = time.Hour })
	_, key := e.pkg(PackageSpec{Name: "Office"})
	for range 3 {
		status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", PublicKey: pubB64(newKey(t))})
		wantError(t, status, body, http.StatusForbidden, api.CodeInvalidKey)
	}
	// Guesses wait now; the right key does not (someone else behind this
	// address may be the guesser).
	status, body := e.do("POST", "/api/v1/enroll", "", wire.EnrollRequest{Key: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", PublicKey: pubB64(newKey(t))})
	wantError(t, status, body, http.StatusTooManyRequests, api.CodeThrottled)
	e.enroll(key, "pc")
	if n := len(e.audit(EvEnrollFailed)); n != 3 {
		t.Fatalf("%d failed enrollments audited, want 3 (throttled tries are not)", n)
	}
}
