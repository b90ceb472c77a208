package manage

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/scope"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Scoped administration per device group (seed 001), wired onto the
// device routes: a member below group manager who holds View on a device
// group sees its devices, Edit also edits them (PATCH), Admin also grants
// levels on the group (at most its own). Devices outside the member's
// groups answer 404, as devices of another account do. The logic is
// relay/scope; the levels are rows of group_scopes.

const (
	EvScopeSet     = "group.scope_set"
	EvScopeRemoved = "group.scope_removed"
)

func (s *API) scopeRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/accounts/{account}/groups/{id}/scopes", H: s.handleGroupScopes},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/groups/{id}/scopes/{user}", H: s.handleSetGroupScope},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/groups/{id}/scopes/{user}", H: s.handleDeleteGroupScope},
	}
}

// groupScopeCaller is the caller's level on group {id}: Admin for group
// managers and up (they manage every group), else the level they hold.
func (s *API) groupScopeCaller(r *http.Request) (api.Caller, store.Membership, scope.Level, error) {
	a, m, err := s.k.AuthedMember(r)
	if err != nil {
		return a, m, scope.None, err
	}
	if api.IsManager(m.Type) {
		return a, m, scope.Admin, nil
	}
	held, err := s.k.Store.UserScopes(r.Context(), m.AccountID, a.User.ID)
	if err != nil {
		return a, m, scope.None, err
	}
	if len(held) == 0 {
		return a, m, scope.None, api.Errf(http.StatusForbidden, api.CodeForbidden, "only group managers and up, and admins of a device group, manage its levels")
	}
	lvl := scope.None
	for _, h := range held {
		if h.GroupID == r.PathValue("id") {
			lvl, _ = scope.Parse(h.Level)
		}
	}
	if lvl < scope.Admin {
		return a, m, lvl, api.Errf(http.StatusNotFound, api.CodeNotFound, "no device group %q you administer", api.Clip(r.PathValue("id"), 64))
	}
	return a, m, lvl, nil
}

// handleGroupScopes is GET /api/v1/accounts/{account}/groups/{id}/scopes.
func (s *API) handleGroupScopes(w http.ResponseWriter, r *http.Request) error {
	_, m, _, err := s.groupScopeCaller(r)
	if err != nil {
		return err
	}
	gs, err := s.k.Store.GroupScopes(r.Context(), m.AccountID, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := []wire.GroupScope{}
	for _, g := range gs {
		out = append(out, wire.GroupScope{User: g.UserID, Level: g.Level})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleSetGroupScope is PUT …/groups/{id}/scopes/{user}: the user must be
// a member of the account; the caller grants at most its own level.
func (s *API) handleSetGroupScope(w http.ResponseWriter, r *http.Request) error {
	a, m, mine, err := s.groupScopeCaller(r)
	if err != nil {
		return err
	}
	var req wire.GroupScope
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	lvl, ok := scope.Parse(strings.TrimSpace(req.Level))
	if !ok {
		return api.Badf("level is view, edit or admin")
	}
	if !scope.CanGrant(mine, lvl) {
		return api.Errf(http.StatusForbidden, api.CodeForbidden, "you may give at most %s on this group", mine)
	}
	return s.changeScope(w, r, a, m, EvScopeSet, lvl.String(), func(tx *store.Store, user string) error {
		return tx.SetGroupScope(r.Context(), m.AccountID, r.PathValue("id"), user, lvl.String())
	})
}

// handleDeleteGroupScope is DELETE …/groups/{id}/scopes/{user}: a level
// above the caller's stays.
func (s *API) handleDeleteGroupScope(w http.ResponseWriter, r *http.Request) error {
	a, m, mine, err := s.groupScopeCaller(r)
	if err != nil {
		return err
	}
	held, err := s.k.Store.GroupScopes(r.Context(), m.AccountID, r.PathValue("id"))
	if err != nil {
		return err
	}
	for _, h := range held {
		if l, _ := scope.Parse(h.Level); h.UserID == r.PathValue("user") && !scope.CanGrant(mine, l) {
			return api.Errf(http.StatusForbidden, api.CodeForbidden, "you may take back at most %s on this group", mine)
		}
	}
	return s.changeScope(w, r, a, m, EvScopeRemoved, "", func(tx *store.Store, user string) error {
		return tx.DeleteGroupScope(r.Context(), m.AccountID, r.PathValue("id"), user)
	})
}

func (s *API) changeScope(w http.ResponseWriter, r *http.Request, a api.Caller, m store.Membership, event, level string, write func(*store.Store, string) error) error {
	user := r.PathValue("user")
	ms, err := s.k.Store.Memberships(r.Context(), user)
	if err != nil {
		return err
	}
	member := false
	for _, x := range ms {
		member = member || x.AccountID == m.AccountID
	}
	if !member {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", api.Clip(user, 64))
	}
	err = s.k.Commit(r.Context(), func(tx *store.Store) error { return write(tx, user) }, func() api.Audit {
		return s.k.Rec(r, a, m.AccountID, event, map[string]any{"group": r.PathValue("id"), "user": user, "level": level})
	})
	if errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no such device group or level in this account")
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ScopedDevice is deviceAdmin for a member below group manager: the
// device {id} if the member's level on one of its groups is at least need;
// refused (the manager check's answer) for a member scoped to no group.
func (s *API) ScopedDevice(r *http.Request, a api.Caller, m store.Membership, need scope.Level, refused error) (store.Device, error) {
	if held, err := s.k.Store.UserScopes(r.Context(), m.AccountID, a.User.ID); err != nil {
		return store.Device{}, err
	} else if len(held) == 0 {
		return store.Device{}, refused
	}
	notFound := api.Errf(http.StatusNotFound, api.CodeNotFound, "no device %q in this account", api.Clip(r.PathValue("id"), 64))
	d, err := s.k.Store.Device(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.AccountID != m.AccountID || d.OnDemand)) {
		return d, notFound
	} else if err != nil {
		return d, err
	}
	held, err := s.k.Store.DeviceScopes(r.Context(), m.AccountID, a.User.ID, d.ID)
	if err != nil {
		return d, err
	}
	var names []string
	for _, h := range held {
		names = append(names, h.Level)
	}
	switch lvl := scope.Highest(names); {
	case lvl == scope.None:
		return d, notFound
	case lvl < need:
		return d, api.Errf(http.StatusForbidden, api.CodeForbidden, "your %s on this device's group does not let you change it", lvl)
	}
	return d, nil
}

// ScopedDevices filters ds to those in the caller's groups (any level).
func (s *API) ScopedDevices(r *http.Request, a api.Caller, m store.Membership, ds []store.Device) ([]store.Device, error) {
	held, err := s.k.Store.UserScopes(r.Context(), m.AccountID, a.User.ID)
	if err != nil || len(held) == 0 {
		return nil, err
	}
	var out []store.Device
	for _, d := range ds {
		in, err := s.k.Store.DeviceScopes(r.Context(), m.AccountID, a.User.ID, d.ID)
		if err != nil {
			return nil, err
		}
		if len(in) > 0 {
			out = append(out, d)
		}
	}
	return out, nil
}
