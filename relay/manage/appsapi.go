package manage

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The applications catalog (spec 4.3.5) that whitelisted applications
// roles pick from.

const (
	EvAppCreated = "application.created"
	EvAppUpdated = "application.updated"
	EvAppDeleted = "application.deleted"
)

const maxPath = 1024

func wireApp(a policy.App) wire.Application {
	return wire.Application{ID: a.ID, Name: a.Name, Enabled: a.Enabled, Path: a.Path, Executable: a.Executable, Description: a.Description}
}

// appFromWire validates an application: a name, an executable's file name
// (no directories: those go in path), an optional path.
func appFromWire(req wire.Application) (policy.App, error) {
	a := policy.App{Name: req.Name, Enabled: req.Enabled, Path: req.Path, Executable: req.Executable, Description: req.Description}
	if err := api.CheckName("name", req.Name); err != nil {
		return a, err
	}
	if err := api.CheckDescription(req.Description); err != nil {
		return a, err
	}
	if req.Executable == "" || !api.ValidText(req.Executable, 255) || strings.ContainsAny(req.Executable, `/\:*?"<>|`) ||
		req.Executable == "." || req.Executable == ".." {
		return a, api.Badf("executable: a file name like notepad.exe (no folders; put those in path)")
	}
	if !api.ValidText(req.Path, maxPath) {
		return a, api.Badf("path: at most %d bytes, no control characters", maxPath)
	}
	return a, nil
}

// handleApps is GET /api/v1/accounts/{account}/applications.
func (s *API) handleApps(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Manager(r, "view groups, roles and role assignments")
	if err != nil {
		return err
	}
	as, err := s.k.Store.Apps(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	out := make([]wire.Application, 0, len(as))
	for _, a := range as {
		out = append(out, wireApp(a))
	}
	if r.URL.RawQuery != "" {
		// A listing (spec 2.2.1): the store filters, sorts and pages.
		q, err := api.ParseListing(r, store.AppColumns)
		if err != nil {
			return err
		}
		ids, total, err := s.k.Store.AppsPage(r.Context(), m.AccountID, q)
		if err != nil {
			return err
		}
		api.SetTotal(w, total)
		out = api.PageOf(out, func(a wire.Application) string { return a.ID }, ids)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateApp is POST /api/v1/accounts/{account}/applications.
func (s *API) handleCreateApp(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.k.Admin(r, "manage groups, roles and role assignments")
	if err != nil {
		return err
	}
	var req wire.Application
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" {
		return api.Badf("id is set by the relay")
	}
	a, err := appFromWire(req)
	if err != nil {
		return err
	}
	err = s.k.Commit(r.Context(), func(tx *store.Store) (err error) {
		a, err = tx.CreateApp(r.Context(), m.AccountID, a)
		return err
	}, func() api.Audit {
		return s.k.Rec(r, u, m.AccountID, EvAppCreated, map[string]any{"application": a.ID, "name": a.Name, "executable": a.Executable})
	})
	if errors.Is(err, store.ErrConflict) {
		return api.Errf(http.StatusConflict, api.CodeConflict, "an application named %q exists already", a.Name)
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, wireApp(a))
	return nil
}

// handleUpdateApp is PUT /api/v1/accounts/{account}/applications/{id}.
// Disabling every application of a whitelist role makes its assignments
// inactive (the evaluator's rule).
func (s *API) handleUpdateApp(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.k.Admin(r, "manage groups, roles and role assignments")
	if err != nil {
		return err
	}
	var req wire.Application
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := appFromWire(req)
	if err != nil {
		return err
	}
	a.ID = r.PathValue("id")
	switch err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.UpdateApp(r.Context(), m.AccountID, a) }, func() api.Audit {
		return s.k.Rec(r, u, m.AccountID, EvAppUpdated, map[string]any{"application": a.ID, "name": a.Name, "enabled": a.Enabled})
	}); {
	case errors.Is(err, store.ErrNotFound):
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no application %q in this account", a.ID)
	case errors.Is(err, store.ErrConflict):
		return api.Errf(http.StatusConflict, api.CodeConflict, "an application named %q exists already", a.Name)
	case err != nil:
		return err
	}
	api.WriteJSON(w, http.StatusOK, wireApp(a))
	return nil
}

// handleDeleteApp is DELETE /api/v1/accounts/{account}/applications/{id}:
// refused while a role lists it (remove it from those roles first).
func (s *API) handleDeleteApp(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.k.Admin(r, "manage groups, roles and role assignments")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	rs, err := s.k.Store.Roles(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	var users []string
	for _, rr := range rs {
		if slices.Contains(rr.AppIDs, id) {
			users = append(users, rr.Role.Name)
		}
	}
	if len(users) > 0 {
		return api.Errf(http.StatusConflict, api.CodeConflict, "roles %s list this application; remove it from them first", strings.Join(users, ", "))
	}
	if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.DeleteApp(r.Context(), m.AccountID, id) }, func() api.Audit {
		return s.k.Rec(r, u, m.AccountID, EvAppDeleted, map[string]any{"application": id})
	}); errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no application %q in this account", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
