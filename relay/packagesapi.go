package relay

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Deployment packages (spec 4.5): administrators create them (the key and
// install link are shown once), change them, revoke them with their
// devices (typed confirmation) and remove them once revoked or empty.

const (
	EvPackageUpdated = "package.updated"
	EvPackageRevoked = "package.revoked"
	EvPackageRemoved = "package.removed"
)

func wirePackage(p store.Package) wire.Package {
	out := wire.Package{ID: p.ID, Name: p.Name, Description: p.Description, Active: p.Active, Revoked: p.Revoked,
		Pending: p.EnrollmentState == store.Pending, MaxDevices: p.MaxDevices, Devices: p.Devices,
		LicenseKey: p.LicenseKey, DeviceGroup: p.DeviceGroup}
	if !p.ValidFrom.IsZero() {
		out.ValidFrom = p.ValidFrom.UTC().Format(time.RFC3339)
	}
	if !p.ValidTo.IsZero() {
		out.ValidTo = p.ValidTo.UTC().Format(time.RFC3339)
	}
	return out
}

// parseWhen reads a UTC date (YYYY-MM-DD, its midnight) or RFC 3339 time.
func parseWhen(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, badf("%s must be YYYY-MM-DD or an RFC 3339 time (UTC)", field)
	}
	return t.UTC(), nil
}

// packageRules validates the editable fields of req into p.
func (s *Server) packageRules(r *http.Request, accountID string, req wire.Package, p *store.Package) error {
	if err := checkDescription(req.Description); err != nil {
		return err
	}
	from, err := parseWhen("valid_from", req.ValidFrom)
	if err != nil {
		return err
	}
	to, err := parseWhen("valid_to", req.ValidTo)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return badf("valid_to must be after valid_from")
	}
	if req.MaxDevices < 0 {
		return badf("max_devices must be 0 (unlimited) or more")
	}
	if err := checkText("license_key", req.LicenseKey, maxShortText); err != nil {
		return err
	}
	if req.DeviceGroup != "" {
		if err := s.checkGroups(r.Context(), accountID, []string{req.DeviceGroup}, false); err != nil {
			return err
		}
	}
	p.Description, p.ValidFrom, p.ValidTo, p.MaxDevices = req.Description, from, to, req.MaxDevices
	p.LicenseKey, p.DeviceGroup = req.LicenseKey, req.DeviceGroup
	p.EnrollmentState = store.Enrolled
	if req.Pending {
		p.EnrollmentState = store.Pending
	}
	return nil
}

// handlePackages is GET /api/v1/accounts/{account}/packages.
func (s *Server) handlePackages(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accountAdmin(r, "manage deployment packages")
	if err != nil {
		return err
	}
	var ps []store.Package
	if r.URL.RawQuery != "" {
		// A listing (spec 2.2.1): the store filters, sorts and pages.
		q, err := parseListing(r, store.PackageColumns)
		if err != nil {
			return err
		}
		var total int
		if ps, total, err = s.st.PackagesPage(r.Context(), m.AccountID, q); err != nil {
			return err
		}
		setTotal(w, total)
	} else if ps, err = s.st.Packages(r.Context(), m.AccountID); err != nil {
		return err
	}
	out := make([]wire.Package, 0, len(ps))
	for _, p := range ps {
		out = append(out, wirePackage(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleCreatePackage is POST /api/v1/accounts/{account}/packages.
func (s *Server) handleCreatePackage(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage deployment packages")
	if err != nil {
		return err
	}
	var req wire.Package
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" || req.Key != "" || req.InstallLink != "" || req.Revoked || req.Devices != 0 {
		return badf("id, key, install_link, revoked and devices are set by the relay")
	}
	if err := checkName(req.Name); err != nil {
		return badf("name: %v", err)
	}
	var p store.Package
	if err := s.packageRules(r, m.AccountID, req, &p); err != nil {
		return err
	}
	p, key, err := s.Admin().CreatePackage(r.Context(), PackageSpec{Account: m.AccountID, Name: req.Name, Description: p.Description,
		Pending: req.Pending, MaxDevices: p.MaxDevices, ValidFrom: p.ValidFrom, ValidTo: p.ValidTo, LicenseKey: p.LicenseKey, DeviceGroup: p.DeviceGroup,
		actor: a.User.ID, remote: remoteIP(r)})
	if err != nil {
		if strings.Contains(err.Error(), "already has a package") {
			return errf(http.StatusConflict, api.CodeConflict, "%v", err)
		}
		return err
	}
	out := wirePackage(p)
	out.Key = key
	out.InstallLink = s.publicBase(r) + "/d/" + key
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) accountPackage(r *http.Request, accountID string) (store.Package, error) {
	p, err := s.st.Package(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.AccountID != accountID) {
		return p, errf(http.StatusNotFound, api.CodeNotFound, "no deployment package %q in this account", r.PathValue("id"))
	}
	return p, err
}

// handleUpdatePackage is PUT /api/v1/accounts/{account}/packages/{id}: its
// settings (not its name or key). Disabling stops new enrollments only.
func (s *Server) handleUpdatePackage(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage deployment packages")
	if err != nil {
		return err
	}
	p, err := s.accountPackage(r, m.AccountID)
	if err != nil {
		return err
	}
	var req wire.Package
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != p.Name {
		return badf("a package's name can't change")
	}
	if p.Revoked && req.Active {
		return errf(http.StatusConflict, api.CodeConflict, "package %q is revoked; create another", p.Name)
	}
	if err := s.packageRules(r, m.AccountID, req, &p); err != nil {
		return err
	}
	p.Active = req.Active
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.UpdatePackage(r.Context(), p) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvPackageUpdated, map[string]any{"package": p.ID, "active": p.Active, "max_devices": p.MaxDevices})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wirePackage(p))
	return nil
}

// handleRevokePackage is POST .../packages/{id}/revoke with {"confirm":
// "revoke"}: no more enrollments, and its devices are revoked and cut off.
func (s *Server) handleRevokePackage(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage deployment packages")
	if err != nil {
		return err
	}
	p, err := s.accountPackage(r, m.AccountID)
	if err != nil {
		return err
	}
	var req wire.Confirm
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Confirm) != "revoke" {
		return badf(`type "revoke" in confirm to revoke package %q and its devices`, p.Name)
	}
	var ids []string
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		ids, err = tx.RevokePackage(r.Context(), m.AccountID, p.ID)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvPackageRevoked, map[string]any{"package": p.ID, "devices": ids})
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.kickDevice(id)
	}
	writeJSON(w, http.StatusOK, wire.PackageRevoked{RevokedDevices: nonNilStrings(ids)})
	return nil
}

// handleDeletePackage is DELETE /api/v1/accounts/{account}/packages/{id}.
func (s *Server) handleDeletePackage(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountAdmin(r, "manage deployment packages")
	if err != nil {
		return err
	}
	p, err := s.accountPackage(r, m.AccountID)
	if err != nil {
		return err
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeletePackage(r.Context(), m.AccountID, p.ID) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvPackageRemoved, map[string]any{"package": p.ID, "name": p.Name})
	}); errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "package %q still has devices; revoke it first (spec 4.5.6)", p.Name)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
