package relay

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/scope"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Device management (spec 4.3): the account's administrators list every
// device, rename it, enroll pending ones, revoke (with a typed
// confirmation) and remove them.

const EvDeviceUpdated, EvDeviceRemoved = "device.updated", "device.removed"

func (s *Server) deviceAdmin(r *http.Request) (authed, store.Membership, store.Device, error) {
	a, m, err := s.accountManager(r, "manage devices")
	if need := scopeNeed(r); err != nil && need != scope.None && m.AccountID != "" && !m.Disabled {
		d, err := s.mg.ScopedDevice(r, a, m, need, err) // a member scoped to device groups (relay/manage)
		return a, m, d, err
	} else if err != nil {
		return a, m, store.Device{}, err
	}
	d, err := s.st.Device(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.AccountID != m.AccountID || d.OnDemand)) {
		return a, m, d, errf(http.StatusNotFound, api.CodeNotFound, "no device %q in this account", r.PathValue("id"))
	}
	return a, m, d, err
}

// scopeNeed is the level a scoped member needs for the device route of r:
// View to read a device, Edit to change it, None (managers only) for the
// rest (enroll, revoke, remove).
func scopeNeed(r *http.Request) scope.Level {
	switch r.Method {
	case http.MethodGet:
		return scope.View
	case http.MethodPatch:
		return scope.Edit
	}
	return scope.None
}

// handleAccountDevices is GET /api/v1/accounts/{account}/devices: all of
// them, whatever the caller's own roles.
func (s *Server) handleAccountDevices(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accountManager(r, "manage devices")
	scoped := err != nil && m.AccountID != "" && !m.Disabled && a.User.ID != ""
	if err != nil && !scoped {
		return err
	}
	var ds []store.Device
	if r.URL.RawQuery == "" {
		ds, err = s.st.Devices(r.Context(), []string{m.AccountID})
	} else {
		// A listing (spec 2.2.1): filtered, sorted and paged in SQL.
		q, perr := parseListing(r, store.DeviceColumns)
		if perr != nil {
			return perr
		}
		var total int
		ds, total, err = s.st.DevicesPage(r.Context(), m.AccountID, q)
		setTotal(w, total)
	}
	if err != nil {
		return err
	}
	if scoped {
		if ds, err = s.mg.ScopedDevices(r, a, m, ds); err != nil {
			return err
		} else if len(ds) == 0 {
			return errf(http.StatusForbidden, api.CodeForbidden, "only group managers and up, and members given a device group, manage devices")
		}
		setTotal(w, len(ds))
	}
	groups, err := s.st.DeviceGroupNames(r.Context(), []string{m.AccountID})
	if err != nil {
		return err
	}
	out := make([]wire.Device, 0, len(ds))
	for _, d := range ds {
		wd := s.wireDevice(d)
		wd.Groups = groups[d.ID]
		out = append(out, wd)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleAccountDevice is GET /api/v1/accounts/{account}/devices/{id}: one
// device with its groups and the caller's favorite mark (the Portal's
// device page).
func (s *Server) handleAccountDevice(w http.ResponseWriter, r *http.Request) error {
	a, m, d, err := s.deviceAdmin(r)
	if err != nil {
		return err
	}
	groups, err := s.st.DeviceGroupNames(r.Context(), []string{m.AccountID})
	if err != nil {
		return err
	}
	favs, err := s.st.Favorites(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	out := s.wireDevice(d)
	out.Groups, out.Favorite = groups[d.ID], favs[d.ID]
	authors, err := s.authors(r.Context(), m.AccountID, "device", []string{d.ID})
	if err != nil {
		return err
	}
	out.CreatedBy, out.ModifiedBy = authors[d.ID].CreatedBy, authors[d.ID].ModifiedBy
	if out.CreatedBy == "" && d.PackageID != "" {
		// Enrolment has no acting user: the deployment package did it.
		p, err := s.st.Package(r.Context(), d.PackageID)
		if err == nil && p.AccountID == m.AccountID {
			out.CreatedBy = "package " + p.Name
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUpdateDevice is PATCH /api/v1/accounts/{account}/devices/{id}.
func (s *Server) handleUpdateDevice(w http.ResponseWriter, r *http.Request) error {
	a, m, d, err := s.deviceAdmin(r)
	if err != nil {
		return err
	}
	var req wire.DeviceUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Alias != nil && *req.Alias != "" {
		if err := checkName(*req.Alias); err != nil {
			return badf("alias: %v", err)
		}
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
	}
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		if req.Alias != nil {
			if err := tx.SetDeviceAlias(r.Context(), d.ID, *req.Alias); err != nil {
				return err
			}
			d.Alias = *req.Alias
		}
		if req.Description != nil {
			if err := tx.SetDeviceDescription(r.Context(), d.ID, *req.Description); err != nil {
				return err
			}
			d.Description = *req.Description
		}
		audit(auditRec{Event: EvDeviceUpdated, Account: m.AccountID, User: a.User.ID, Device: d.ID, Remote: remoteIP(r),
			Detail: map[string]any{"alias": d.Alias, "description": d.Description}})
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.wireDevice(d))
	return nil
}

// handleEnrollPending is POST .../devices/{id}/enroll: a pending device
// (its package asked for review) becomes enrolled (spec 4.5.7).
func (s *Server) handleEnrollPending(w http.ResponseWriter, r *http.Request) error {
	a, m, d, err := s.deviceAdmin(r)
	if err != nil {
		return err
	}
	switch d.State {
	case store.Revoked:
		return errf(http.StatusConflict, api.CodeDeviceRevoked, "device %s is revoked; reinstall the Host to enroll it again", d.Name())
	case store.Pending:
		if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.SetDeviceState(r.Context(), d.ID, store.Enrolled) },
			func() auditRec {
				return auditRec{Event: EvDeviceApproved, Account: m.AccountID, User: a.User.ID, Device: d.ID, Remote: remoteIP(r)}
			}); err != nil {
			return err
		}
		d.State = store.Enrolled
	}
	writeJSON(w, http.StatusOK, s.wireDevice(d))
	return nil
}

// handleRevokeDevice is POST .../devices/{id}/revoke with {"confirm":
// "revoke"}: the device is disconnected and can't connect again; it stays
// listed as revoked.
func (s *Server) handleRevokeDevice(w http.ResponseWriter, r *http.Request) error {
	a, m, d, err := s.deviceAdmin(r)
	if err != nil {
		return err
	}
	var req wire.Confirm
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Confirm) != "revoke" {
		return badf(`type "revoke" in confirm to revoke %s`, d.Name())
	}
	if d.State != store.Revoked {
		if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.SetDeviceState(r.Context(), d.ID, store.Revoked) },
			func() auditRec {
				return auditRec{Event: EvDeviceRevoked, Account: m.AccountID, User: a.User.ID, Device: d.ID, Remote: remoteIP(r)}
			}); err != nil {
			return err
		}
		d.State = store.Revoked
		s.kickDevice(d.ID)
	}
	writeJSON(w, http.StatusOK, s.wireDevice(d))
	return nil
}

// handleRemoveDevice is DELETE /api/v1/accounts/{account}/devices/{id}.
func (s *Server) handleRemoveDevice(w http.ResponseWriter, r *http.Request) error {
	a, m, d, err := s.deviceAdmin(r)
	if err != nil {
		return err
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteDevice(r.Context(), m.AccountID, d.ID) },
		func() auditRec {
			return auditRec{Event: EvDeviceRemoved, Account: m.AccountID, User: a.User.ID, Device: d.ID, Remote: remoteIP(r),
				Detail: map[string]any{"hostname": d.Hostname}}
		}); err != nil {
		return err
	}
	s.kickRemoved(d.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleFavorite is PUT or DELETE /api/v1/me/favorites/{device}: marks a
// device the caller may reach (id or hostname) as a favorite, or not.
func (s *Server) handleFavorite(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	accounts, err := s.activeAccounts(r.Context(), a)
	if err != nil {
		return err
	}
	d, err := s.resolveDevice(r.Context(), accounts, r.PathValue("device"))
	if err != nil {
		return err
	}
	if err := s.st.SetFavorite(r.Context(), a.User.ID, d.ID, r.Method == http.MethodPut); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
