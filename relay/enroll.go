package relay

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Bounds of inventory fields.
const (
	maxHostname  = 255
	maxShortText = api.MaxShortText
	maxMonitors  = 32
)

// parsePublicKey decodes a device's base64 (std) Ed25519 public key.
func parsePublicKey(s string) (ed25519.PublicKey, bool) {
	if len(s) > 64 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// checkInventory validates an agent's inventory and converts it for the store.
func checkInventory(inv *wire.Inventory) (store.Inventory, error) {
	if inv == nil {
		return store.Inventory{}, nil
	}
	bad := func(field string) error {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "inventory.%s is too long or contains control characters", field)
	}
	switch {
	case !validText(inv.Hostname, maxHostname):
		return store.Inventory{}, bad("hostname")
	case !validText(inv.OS, maxShortText):
		return store.Inventory{}, bad("os")
	case !validText(inv.Arch, maxShortText):
		return store.Inventory{}, bad("arch")
	case !validText(inv.Version, maxShortText):
		return store.Inventory{}, bad("version")
	case !validText(inv.User, maxHostname):
		return store.Inventory{}, bad("user")
	case len(inv.Monitors) > maxMonitors:
		return store.Inventory{}, errf(http.StatusBadRequest, api.CodeBadRequest, "inventory lists more than %d monitors", maxMonitors)
	}
	for _, m := range inv.Monitors {
		if !validText(m.Name, maxShortText) || m.Width <= 0 || m.Height <= 0 || m.Width > 1<<16 || m.Height > 1<<16 {
			return store.Inventory{}, errf(http.StatusBadRequest, api.CodeBadRequest, "inventory has an invalid monitor")
		}
	}
	var mon json.RawMessage
	if len(inv.Monitors) > 0 {
		mon, _ = json.Marshal(inv.Monitors)
	}
	return store.Inventory{
		Hostname: inv.Hostname, OS: inv.OS, Arch: inv.Arch, Version: inv.Version,
		LoggedInUser: inv.User, Monitors: mon,
	}, nil
}

// packageUsable says why devices can't enroll with p (which has devices
// already) at now; nil when they can.
func packageUsable(p store.Package, devices int, now time.Time) *apiError {
	switch {
	case p.Revoked:
		return errf(http.StatusForbidden, api.CodeRevoked, "deployment package %q was revoked; ask an administrator for another key", p.Name)
	case !p.Active:
		return errf(http.StatusForbidden, api.CodePackageInactive, "deployment package %q is disabled; ask an administrator for another key", p.Name)
	case !p.ValidFrom.IsZero() && now.Before(p.ValidFrom):
		return errf(http.StatusForbidden, api.CodePackageExpired, "deployment package %q is valid from %s (UTC)", p.Name, p.ValidFrom.Format("2006-01-02 15:04"))
	case !p.ValidTo.IsZero() && !now.Before(p.ValidTo):
		return errf(http.StatusForbidden, api.CodePackageExpired, "deployment package %q expired on %s (UTC)", p.Name, p.ValidTo.Format("2006-01-02 15:04"))
	case p.MaxDevices > 0 && devices >= p.MaxDevices:
		return errf(http.StatusForbidden, api.CodePackageFull, "deployment package %q already has its %d devices", p.Name, p.MaxDevices)
	}
	return nil
}

// handleEnroll is POST /api/v1/enroll: a device presents a deployment
// package's key and its public key.
func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) error {
	ip := remoteIP(r)
	// A valid key enrolls even from a source throttled for guessing (a
	// neighbour behind the same address may be the guesser): keys carry
	// 160 random bits, so answering "valid" to a throttled source gives
	// nothing away. Only the failures are charged and refused.
	blocked, retry := s.enrollLimit.blocked(source(ip))
	throttled := &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
		Msg: "too many failed enrollments from this address; wait and try again", RetryAfter: retry}
	var req wire.EnrollRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Key == "" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "key is required: the deployment package's enrollment key")
	}
	pub, ok := parsePublicKey(req.PublicKey)
	if !ok {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "public_key must be a base64 Ed25519 public key (32 bytes)")
	}
	inv, err := checkInventory(req.Inventory)
	if err != nil {
		return err
	}
	refuse := func(reason string) error {
		if blocked {
			return throttled
		}
		s.enrollLimit.fail(source(ip))
		s.audit(auditRec{Event: EvEnrollFailed, Remote: ip, Detail: map[string]any{"reason": reason}})
		return errf(http.StatusForbidden, api.CodeInvalidKey, "the enrollment key is not valid; copy it again from the deployment package")
	}
	hash, ok := secret.EnrollmentKeyHash(req.Key)
	if !ok {
		return refuse("malformed_key")
	}
	if blocked {
		// One cheap read, not an enrollment transaction, per throttled try.
		if _, err := s.st.PackageByKeyHash(r.Context(), hash); errors.Is(err, store.ErrNotFound) {
			return throttled
		} else if err != nil {
			return err
		}
	}
	now := s.now()
	pubStr := base64.StdEncoding.EncodeToString(pub)
	var res store.EnrollResult
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		var err error
		res, err = tx.Enroll(r.Context(), store.EnrollParams{
			KeyHash: hash, PublicKey: pubStr, Inventory: inv, Now: now,
			Check: func(p store.Package, devices int) error {
				if err := packageUsable(p, devices, now); err != nil {
					return err
				}
				return nil
			},
		})
		if err == nil && res.Created {
			d := res.Device
			audit(auditRec{Event: EvDeviceEnrolled, Account: d.AccountID, Device: d.ID, Remote: ip,
				Detail: map[string]any{"package": res.Package.ID, "state": string(d.State), "hostname": d.Hostname}})
		}
		return err
	})
	var ae *apiError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse("unknown_key")
	case errors.As(err, &ae):
		s.audit(auditRec{Event: EvEnrollFailed, Account: res.Package.AccountID, Remote: ip,
			Detail: map[string]any{"reason": ae.Code, "package": res.Package.ID}})
		return ae
	case errors.Is(err, store.ErrRevoked):
		s.audit(auditRec{Event: EvEnrollFailed, Account: res.Package.AccountID, Remote: ip,
			Detail: map[string]any{"reason": "revoked", "package": res.Package.ID}})
		return errf(http.StatusForbidden, api.CodeRevoked, "this device was revoked; reinstall the host to enroll it with a new identity")
	case errors.Is(err, store.ErrConflict):
		return errf(http.StatusConflict, api.CodeConflict, "this device key is enrolled in another account")
	case err != nil:
		return err
	}
	d := res.Device
	if res.Created {
		s.log.Info("device enrolled", "device", d.ID, "account", d.AccountID, "state", d.State, "hostname", d.Hostname)
	}
	// 200 for a new device and for a known key alike: enrolling is idempotent.
	writeJSON(w, http.StatusOK, wire.EnrollResponse{
		DeviceID: d.ID, AccountID: d.AccountID, State: string(d.State), RelayPublicKey: s.PublicKeyString(),
	})
	return nil
}
