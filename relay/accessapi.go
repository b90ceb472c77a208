package relay

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/rights"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The access model's API (spec 4.2–4.4): groups and their members, roles,
// role assignments. Account administrators and the owner manage them;
// every write is checked, audited, and leaves nothing behind when refused.

// Audit events of the access model.
const (
	EvGroupCreated      = "group.created"
	EvGroupUpdated      = "group.updated"
	EvGroupDeleted      = "group.deleted"
	EvGroupMemberAdded  = "group.member_added"
	EvGroupMemberRemove = "group.member_removed"
	EvRoleCreated       = "role.created"
	EvRoleUpdated       = "role.updated"
	EvRoleDeleted       = "role.deleted"
	EvAssignmentCreated = "assignment.created"
	EvAssignmentUpdated = "assignment.updated"
	EvAssignmentDeleted = "assignment.deleted"
)

const (
	maxDescription = api.MaxDescription
	maxGroupRefs   = 1000 // groups named by one assignment
)

func (s *Server) accessAdmin(r *http.Request) (authed, store.Membership, error) {
	return s.accountAdmin(r, "manage groups, roles and role assignments")
}

// accessViewer: group managers view groups, roles and role assignments.
func (s *Server) accessViewer(r *http.Request) (authed, store.Membership, error) {
	return s.accountManager(r, "view groups, roles and role assignments")
}

func badf(format string, args ...any) error { return api.Badf(format, args...) }

func checkDescription(d string) error { return api.CheckDescription(d) }

// --- groups -----------------------------------------------------------------

func wireGroup(g store.Group) wire.Group {
	return wire.Group{ID: g.ID, Name: g.Name, Description: g.Description, Kind: string(g.Kind), Active: g.Active}
}

// handleGroups is GET /api/v1/accounts/{account}/groups: the built-in
// groups, then the account's.
func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accessViewer(r)
	if err != nil {
		return err
	}
	if r.URL.RawQuery != "" {
		// A listing (spec 2.2.1): filtered, sorted and paged in SQL, the
		// built-ins among the others.
		q, err := parseListing(r, store.GroupColumns)
		if err != nil {
			return err
		}
		gs, total, err := s.st.GroupsPage(r.Context(), m.AccountID, q)
		if err != nil {
			return err
		}
		out := make([]wire.Group, 0, len(gs))
		for _, g := range gs {
			wg := wireGroup(g.Group)
			wg.Builtin, wg.MemberCount = g.Builtin, &g.Members
			out = append(out, wg)
		}
		setTotal(w, total)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	gs, err := s.st.Groups(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	var out []wire.Group
	for _, b := range policy.BuiltinGroups() {
		out = append(out, wire.Group{ID: b.ID, Name: b.Name, Kind: string(b.Kind), Active: true, Builtin: true})
	}
	for _, g := range gs {
		out = append(out, wireGroup(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// group resolves {id} among the account's stored groups; built-ins are
// refused for writes.
func (s *Server) group(r *http.Request, accountID string) (store.Group, error) {
	id := r.PathValue("id")
	if id == policy.GroupIDEveryone || id == policy.GroupIDEverything {
		return store.Group{}, errf(http.StatusConflict, api.CodeConflict, "the built-in groups Everyone and Everything can't be changed")
	}
	g, err := s.st.Group(r.Context(), accountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return g, errf(http.StatusNotFound, api.CodeNotFound, "no group %q in this account", id)
	}
	return g, err
}

// handleCreateGroup is POST /api/v1/accounts/{account}/groups.
func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request) error {
	// Administrators create any group; the user administrator and user
	// creator rights (relay/rights) create user groups only.
	a, m, err := s.authedMember(r)
	if err != nil {
		return err
	}
	refused := errf(http.StatusForbidden, api.CodeForbidden, "only account administrators and the owner manage groups, roles and role assignments (user administrators and user creators create user groups)")
	if !isAdmin(m.Type) && !rights.CreatesUserGroups(m) {
		return refused
	}
	var req wire.GroupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	g := store.Group{AccountID: m.AccountID, Active: true, CreatedAt: s.now()}
	switch policy.GroupKind(req.Kind) {
	case policy.GroupUser, policy.GroupDevice:
		g.Kind = policy.GroupKind(req.Kind)
	case policy.GroupLDAP:
		return badf("LDAP user groups are imported from the directory, not created by hand")
	default:
		return badf("kind must be user or device")
	}
	if !isAdmin(m.Type) && g.Kind != policy.GroupUser {
		return refused
	}
	if req.Name == nil {
		return badf("name is required")
	}
	if err := checkName(*req.Name); err != nil {
		return badf("name: %v", err)
	}
	g.Name = *req.Name
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		g.Description = *req.Description
	}
	if req.Active != nil {
		g.Active = *req.Active
	}
	if strings.EqualFold(g.Name, "Everyone") || strings.EqualFold(g.Name, "Everything") {
		return errf(http.StatusConflict, api.CodeConflict, "%q is a built-in group's name", g.Name)
	}
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		g, err = tx.CreateGroup(r.Context(), g)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvGroupCreated, map[string]any{"group": g.ID, "name": g.Name, "kind": string(g.Kind)})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "a %s group named %q exists already", g.Kind, g.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireGroup(g))
	return nil
}

// handleGroup is GET /api/v1/accounts/{account}/groups/{id}, with members.
func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accessViewer(r)
	if err != nil {
		return err
	}
	g, err := s.group(r, m.AccountID)
	if err != nil {
		return err
	}
	out := wireGroup(g)
	if out.Members, err = s.st.GroupMembers(r.Context(), g.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUpdateGroup is PATCH /api/v1/accounts/{account}/groups/{id}. LDAP
// groups keep their directory name: only status and description change.
func (s *Server) handleUpdateGroup(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	g, err := s.group(r, m.AccountID)
	if err != nil {
		return err
	}
	var req wire.GroupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Kind != "" && req.Kind != string(g.Kind) {
		return badf("a group's kind can't change")
	}
	if req.Name != nil {
		if g.Kind == policy.GroupLDAP && *req.Name != g.Name {
			return badf("an LDAP group's name comes from the directory")
		}
		if err := checkName(*req.Name); err != nil {
			return badf("name: %v", err)
		}
		g.Name = *req.Name
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		g.Description = *req.Description
	}
	if req.Active != nil {
		g.Active = *req.Active
	}
	err = s.commit(r.Context(), func(tx *store.Store) error { return tx.UpdateGroup(r.Context(), g) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvGroupUpdated, map[string]any{"group": g.ID, "name": g.Name, "active": g.Active})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "a %s group named %q exists already", g.Kind, g.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireGroup(g))
	return nil
}

// handleDeleteGroup is DELETE /api/v1/accounts/{account}/groups/{id}; the
// role assignments naming it stop naming it.
func (s *Server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	g, err := s.group(r, m.AccountID)
	if err != nil {
		return err
	}
	if g.Kind == policy.GroupUser {
		// Deleting a group takes its members out of it.
		members, err := s.st.GroupMembers(r.Context(), g.ID)
		if err != nil {
			return err
		}
		if err := s.mayRegroup(r.Context(), a, m, members); err != nil {
			return err
		}
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteGroup(r.Context(), m.AccountID, g.ID) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvGroupDeleted, map[string]any{"group": g.ID, "name": g.Name})
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleGroupMember is PUT or DELETE
// /api/v1/accounts/{account}/groups/{id}/members/{member}: a user (id or
// email) of the account in a user group, a device (id or hostname) in a
// device group.
func (s *Server) handleGroupMember(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	g, err := s.group(r, m.AccountID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ref := r.PathValue("member")
	var member string
	if g.Kind == policy.GroupDevice {
		d, err := s.resolveDevice(ctx, []string{m.AccountID}, ref)
		if err != nil {
			return err
		}
		member = d.ID
	} else {
		if g.Kind == policy.GroupLDAP {
			return errf(http.StatusConflict, api.CodeConflict, "LDAP group members come from the directory at each login")
		}
		if member, err = s.accountUser(ctx, m.AccountID, ref); err != nil {
			return err
		}
		if err := s.mayRegroup(ctx, a, m, []string{member}); err != nil {
			return err
		}
	}
	ev := EvGroupMemberAdded
	write := func(tx *store.Store) error { return tx.AddGroupMember(ctx, g.ID, member) }
	if r.Method == http.MethodDelete {
		ev = EvGroupMemberRemove
		write = func(tx *store.Store) error { return tx.RemoveGroupMember(ctx, g.ID, member) }
	}
	err = s.commit(ctx, write, func() auditRec {
		return s.recAs(r, a, m.AccountID, ev, map[string]any{"group": g.ID, "member": member})
	})
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "%s is not in group %q", ref, g.Name)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// mayRegroup refuses to change the groups of users at or above the
// caller's type (the caller included) unless the caller is the owner: an
// administrator cannot take the owner out of Administrators.
func (s *Server) mayRegroup(ctx context.Context, a authed, m store.Membership, userIDs []string) error {
	if m.Type == store.Owner {
		return nil
	}
	for _, id := range userIDs {
		t, err := s.st.AccountUser(ctx, m.AccountID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // no longer a member: nothing of theirs to protect
		} else if err != nil {
			return err
		}
		if !mayChange(m.Type, t.Type, id == a.User.ID) {
			return errf(http.StatusForbidden, api.CodeForbidden,
				"you can change the groups only of users whose type is below yours (%s is %s)", t.User.Email, typeName(t.Type))
		}
	}
	return nil
}

// accountUser resolves a user id or email among accountID's members.
func (s *Server) accountUser(ctx context.Context, accountID, ref string) (string, error) {
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", ref)
	if !validText(ref, maxEmail) || ref == "" {
		return "", notFound
	}
	u, err := s.st.User(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.st.UserByEmail(ctx, strings.ToLower(ref))
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", notFound
	} else if err != nil {
		return "", err
	}
	ms, err := s.st.Memberships(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(ms, func(m store.Membership) bool { return m.AccountID == accountID }) {
		return "", notFound
	}
	return u.ID, nil
}

// --- roles ------------------------------------------------------------------

func wireRole(r policy.Role, appIDs []string, predefined bool) wire.RoleInfo {
	return wire.RoleInfo{ID: r.ID, Name: r.Name, Description: r.Description, Type: string(r.Type), Enabled: r.Enabled,
		Predefined: predefined, Permissions: r.Permissions.Strings(), ClientType: string(r.ClientType),
		ConfirmLocal: r.Confirm.Local, ExceptLocked: r.Confirm.ExceptLocked || r.Whitelist.ExceptLocked,
		ExceptNoUser: r.Confirm.ExceptNoUser || r.Whitelist.ExceptNoUser, ConfirmEmailGroups: r.Confirm.EmailGroupIDs,
		EmailOnlyWhenLocked: r.Confirm.EmailOnlyLocked, EmailOnlyWhenNoUser: r.Confirm.EmailOnlyNoUser, AppIDs: appIDs}
}

// handleRoles is GET /api/v1/accounts/{account}/roles: predefined, then custom.
func (s *Server) handleRoles(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accessViewer(r)
	if err != nil {
		return err
	}
	rs, err := s.st.Roles(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	var out []wire.RoleInfo
	for _, p := range policy.PredefinedRoles() {
		out = append(out, wireRole(p, nil, true))
	}
	ids := make([]string, len(rs))
	for i, rr := range rs {
		ids[i] = rr.Role.ID
	}
	authors, err := s.authors(r.Context(), m.AccountID, "role", ids)
	if err != nil {
		return err
	}
	for _, rr := range rs {
		wr := wireRole(rr.Role, rr.AppIDs, false)
		wr.CreatedBy, wr.ModifiedBy = authors[rr.Role.ID].CreatedBy, authors[rr.Role.ID].ModifiedBy
		out = append(out, wr)
	}
	if r.URL.RawQuery != "" {
		// A listing (spec 2.2.1): the store filters, sorts and pages the
		// ids, predefined roles among the others; the rules come from above.
		q, err := parseListing(r, store.RoleColumns)
		if err != nil {
			return err
		}
		page, total, err := s.st.RolesPage(r.Context(), m.AccountID, q)
		if err != nil {
			return err
		}
		ids := make([]string, len(page))
		for i, lr := range page {
			ids[i] = lr.ID
		}
		setTotal(w, total)
		out = pageOf(out, func(ro wire.RoleInfo) string { return ro.ID }, ids)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// roleFromWire validates a role request of accountID.
func (s *Server) roleFromWire(ctx context.Context, accountID string, req wire.RoleInfo) (store.RoleRow, error) {
	rr := store.RoleRow{AccountID: accountID}
	if err := checkName(req.Name); err != nil {
		return rr, badf("name: %v", err)
	}
	if err := checkDescription(req.Description); err != nil {
		return rr, err
	}
	perms, err := policy.ParseSet(req.Permissions)
	if err != nil {
		return rr, badf("permissions: %v", err)
	}
	role := policy.Role{ID: "new", Name: req.Name, Description: req.Description, Type: policy.RoleType(req.Type), Enabled: req.Enabled}
	switch role.Type {
	case policy.RoleDevice:
		role.Permissions, role.ClientType = perms, policy.ClientType(req.ClientType)
		if role.ClientType == "" {
			role.ClientType = policy.ClientAny
		}
	case policy.RoleOnDemand:
		role.Permissions = perms
	case policy.RoleConfirmAccess:
		if len(req.ConfirmEmailGroups) > maxGroupRefs {
			return rr, badf("at most %d email groups", maxGroupRefs)
		}
		if err := s.checkGroups(ctx, accountID, req.ConfirmEmailGroups, true); err != nil {
			return rr, err
		}
		role.Confirm = policy.ConfirmRules{Local: req.ConfirmLocal, ExceptLocked: req.ExceptLocked, ExceptNoUser: req.ExceptNoUser,
			EmailGroupIDs: req.ConfirmEmailGroups, EmailOnlyLocked: req.EmailOnlyWhenLocked, EmailOnlyNoUser: req.EmailOnlyWhenNoUser}
		if !role.Confirm.Local && len(role.Confirm.EmailGroupIDs) == 0 {
			return rr, badf("a confirm access role needs confirm_local or confirm_email_groups")
		}
	case policy.RoleWhitelistedApps:
		if len(req.AppIDs) == 0 || len(req.AppIDs) > maxGroupRefs {
			return rr, badf("app_ids: 1 to %d applications from the catalog", maxGroupRefs)
		}
		apps, err := s.st.Apps(ctx, accountID)
		if err != nil {
			return rr, err
		}
		for _, id := range req.AppIDs {
			if !slices.ContainsFunc(apps, func(a policy.App) bool { return a.ID == id }) {
				return rr, badf("no application %q in the catalog", id)
			}
		}
		role.Whitelist = policy.WhitelistRules{ExceptLocked: req.ExceptLocked, ExceptNoUser: req.ExceptNoUser}
		rr.AppIDs = slices.Compact(slices.Sorted(slices.Values(req.AppIDs)))
	default:
		return rr, badf("type must be device, ondemand, confirm_access or whitelisted_apps")
	}
	if role.Type != policy.RoleDevice && role.Type != policy.RoleOnDemand && (len(req.Permissions) > 0 || req.ClientType != "") {
		return rr, badf("permissions and client_type are for device and ondemand roles")
	}
	if role.Type != policy.RoleWhitelistedApps && len(req.AppIDs) > 0 {
		return rr, badf("app_ids are for whitelisted_apps roles")
	}
	if err := role.Validate(); err != nil {
		return rr, badf("%s", strings.TrimPrefix(err.Error(), "policy: "))
	}
	role.ID = ""
	rr.Role = role
	return rr, nil
}

// checkGroups: every id is a group of the account (or a built-in) of the
// wanted side.
func (s *Server) checkGroups(ctx context.Context, accountID string, ids []string, users bool) error {
	if len(ids) == 0 {
		return nil
	}
	gs, err := s.st.Groups(ctx, accountID)
	if err != nil {
		return err
	}
	kinds := map[string]policy.GroupKind{policy.GroupIDEveryone: policy.GroupUser, policy.GroupIDEverything: policy.GroupDevice}
	for _, g := range gs {
		kinds[g.ID] = g.Kind
	}
	for _, id := range ids {
		k, ok := kinds[id]
		switch {
		case !ok:
			return badf("no group %q in this account", id)
		case users && !k.IsUserKind():
			return badf("group %q is a device group; a user group is needed here", id)
		case !users && k != policy.GroupDevice:
			return badf("group %q is a user group; a device group is needed here", id)
		}
	}
	return nil
}

// handleCreateRole is POST /api/v1/accounts/{account}/roles.
func (s *Server) handleCreateRole(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	var req wire.RoleInfo
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" || req.Predefined {
		return badf("id and predefined are set by the relay")
	}
	rr, err := s.roleFromWire(r.Context(), m.AccountID, req)
	if err != nil {
		return err
	}
	if s.isPredefinedName(rr.Role.Name) {
		return errf(http.StatusConflict, api.CodeConflict, "%q is a predefined role's name", rr.Role.Name)
	}
	rr.CreatedAt = s.now()
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		rr, err = tx.CreateRole(r.Context(), rr)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvRoleCreated, map[string]any{"role": rr.Role.ID, "name": rr.Role.Name, "type": string(rr.Role.Type), "permissions": rr.Role.Permissions.Strings()})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "a role named %q exists already", rr.Role.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireRole(rr.Role, rr.AppIDs, false))
	return nil
}

func (s *Server) isPredefinedName(n string) bool {
	return slices.ContainsFunc(policy.PredefinedRoles(), func(p policy.Role) bool { return strings.EqualFold(p.Name, n) })
}

// customRole resolves {id} among the account's custom roles.
func (s *Server) customRole(r *http.Request, accountID string) (store.RoleRow, error) {
	id := r.PathValue("id")
	if slices.ContainsFunc(policy.PredefinedRoles(), func(p policy.Role) bool { return p.ID == id }) {
		return store.RoleRow{}, errf(http.StatusConflict, api.CodeConflict, "predefined roles can't be changed or removed; copy one instead")
	}
	rs, err := s.st.Roles(r.Context(), accountID)
	if err != nil {
		return store.RoleRow{}, err
	}
	for _, rr := range rs {
		if rr.Role.ID == id {
			return rr, nil
		}
	}
	return store.RoleRow{}, errf(http.StatusNotFound, api.CodeNotFound, "no role %q in this account", id)
}

// handleUpdateRole is PUT /api/v1/accounts/{account}/roles/{id}: the whole
// role; its type can't change.
func (s *Server) handleUpdateRole(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	old, err := s.customRole(r, m.AccountID)
	if err != nil {
		return err
	}
	var req wire.RoleInfo
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Type != string(old.Role.Type) {
		return badf("a role's type can't change (it is %s)", old.Role.Type)
	}
	rr, err := s.roleFromWire(r.Context(), m.AccountID, req)
	if err != nil {
		return err
	}
	if s.isPredefinedName(rr.Role.Name) {
		return errf(http.StatusConflict, api.CodeConflict, "%q is a predefined role's name", rr.Role.Name)
	}
	rr.Role.ID = old.Role.ID
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.UpdateRole(r.Context(), rr) }, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvRoleUpdated, map[string]any{"role": rr.Role.ID, "name": rr.Role.Name, "enabled": rr.Role.Enabled, "permissions": rr.Role.Permissions.Strings()})
	}); errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "a role named %q exists already", rr.Role.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireRole(rr.Role, rr.AppIDs, false))
	return nil
}

// handleDeleteRole is DELETE /api/v1/accounts/{account}/roles/{id}: its
// role assignments become inactive and are listed (spec 4.4.5).
func (s *Server) handleDeleteRole(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	rr, err := s.customRole(r, m.AccountID)
	if err != nil {
		return err
	}
	var disabled []string
	err = s.commit(r.Context(), func(tx *store.Store) error {
		var err error
		disabled, err = tx.DeleteRole(r.Context(), m.AccountID, rr.Role.ID)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvRoleDeleted, map[string]any{"role": rr.Role.ID, "name": rr.Role.Name, "disabled_assignments": disabled})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.RoleDeleted{DisabledAssignments: nonNilStrings(disabled)})
	return nil
}

// handleCopyRole is POST /api/v1/accounts/{account}/roles/{id}/copy with
// {"name": ...}: a custom role with the same settings (predefined roles
// too: that is how one starts from them).
func (s *Server) handleCopyRole(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	var req wire.RoleCopy
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkName(req.Name); err != nil {
		return badf("name: %v", err)
	}
	if s.isPredefinedName(req.Name) {
		return errf(http.StatusConflict, api.CodeConflict, "%q is a predefined role's name", req.Name)
	}
	id := r.PathValue("id")
	var src store.RoleRow
	for _, p := range policy.PredefinedRoles() {
		if p.ID == id {
			src = store.RoleRow{Role: p}
		}
	}
	if src.Role.ID == "" {
		if src, err = s.customRole(r, m.AccountID); err != nil {
			return err
		}
	}
	cp := store.RoleRow{AccountID: m.AccountID, Role: src.Role, AppIDs: src.AppIDs, CreatedAt: s.now()}
	cp.Role.ID, cp.Role.Name = "", req.Name
	err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		cp, err = tx.CreateRole(r.Context(), cp)
		return err
	}, func() auditRec {
		return s.recAs(r, a, m.AccountID, EvRoleCreated, map[string]any{"role": cp.Role.ID, "name": cp.Role.Name, "copy_of": id})
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "a role named %q exists already", req.Name)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireRole(cp.Role, cp.AppIDs, false))
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- role assignments -------------------------------------------------------

var weekdayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

func scheduleFromWire(ws *wire.Schedule) (*policy.Schedule, error) {
	if ws == nil {
		return nil, nil
	}
	var sc policy.Schedule
	var err error
	if sc.StartDate, err = policy.ParseDate(ws.StartDate); err != nil {
		return nil, badf("schedule.start_date must be YYYY-MM-DD")
	}
	if ws.EndDate != "" {
		if sc.EndDate, err = policy.ParseDate(ws.EndDate); err != nil {
			return nil, badf("schedule.end_date must be YYYY-MM-DD")
		}
	}
	sc.AllDay, sc.TimeZone = ws.AllDay, ws.TimeZone
	if !ws.AllDay {
		if sc.StartTime, err = policy.ParseTimeOfDay(ws.StartTime); err != nil {
			return nil, badf("schedule.start_time must be HH:MM (or set all_day)")
		}
		if sc.EndTime, err = policy.ParseTimeOfDay(ws.EndTime); err != nil {
			return nil, badf("schedule.end_time must be HH:MM (or set all_day)")
		}
	}
	rc := ws.Recurrence
	if len(rc.Weekdays) > 7 {
		return nil, badf("schedule.recurrence.weekdays: at most 7")
	}
	sc.Recurrence = policy.Recurrence{Kind: policy.RecurrenceKind(rc.Kind), Interval: rc.Interval, Daily: policy.DailyMode(rc.Daily),
		MonthDay: rc.MonthDay, LastDay: rc.LastDay, Month: time.Month(rc.Month)}
	if rc.Kind == "none" {
		sc.Recurrence.Kind = policy.RecurNone
	}
	for _, d := range rc.Weekdays {
		i := slices.Index(weekdayNames, strings.ToLower(d))
		if i < 0 {
			return nil, badf("schedule.recurrence.weekdays: %q is not a day (monday ... sunday)", d)
		}
		sc.Recurrence.Weekdays = append(sc.Recurrence.Weekdays, time.Weekday(i))
	}
	if len(sc.TimeZone) > 64 || strings.Contains(sc.TimeZone, "..") {
		return nil, badf("schedule.timezone: unknown")
	}
	if err := sc.Validate(); err != nil {
		return nil, badf("schedule: %s", strings.TrimPrefix(err.Error(), "policy: "))
	}
	return &sc, nil
}

func scheduleToWire(sc *policy.Schedule) *wire.Schedule {
	if sc == nil {
		return nil
	}
	ws := &wire.Schedule{StartDate: sc.StartDate.String(), AllDay: sc.AllDay, TimeZone: sc.TimeZone, Summary: sc.Describe()}
	if !sc.EndDate.IsZero() {
		ws.EndDate = sc.EndDate.String()
	}
	if !sc.AllDay {
		ws.StartTime, ws.EndTime = sc.StartTime.String(), sc.EndTime.String()
	}
	rc := sc.Recurrence
	ws.Recurrence = wire.Recurrence{Kind: string(rc.Kind), Interval: rc.Interval, Daily: string(rc.Daily),
		MonthDay: rc.MonthDay, LastDay: rc.LastDay, Month: int(rc.Month)}
	for _, d := range rc.Weekdays {
		ws.Recurrence.Weekdays = append(ws.Recurrence.Weekdays, weekdayNames[d])
	}
	return ws
}

var statusNames = map[policy.Status]string{
	policy.StatusInactive: "inactive", policy.StatusActive: "active",
	policy.StatusActiveBySchedule: "active_due_to_schedule", policy.StatusInactiveBySchedule: "inactive_due_to_schedule",
}

func wireAssignment(a policy.Assignment, m *policy.Model, now time.Time) wire.Assignment {
	out := wire.Assignment{ID: a.ID, Name: a.Name, Description: a.Description, Active: a.Active, RoleID: a.RoleID,
		UserGroups: nonNilStrings(a.UserGroupIDs), DeviceGroups: nonNilStrings(a.DeviceGroupIDs), Schedule: scheduleToWire(a.Schedule)}
	if m != nil {
		if st, ok := m.AssignmentStatus(a.ID, now); ok {
			out.Status = statusNames[st]
		}
	}
	return out
}

// handleAssignments is GET /api/v1/accounts/{account}/assignments, with
// each one's status now; with listing parameters, one page of them.
func (s *Server) handleAssignments(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.accessViewer(r)
	if err != nil {
		return err
	}
	snap, err := s.st.Snapshot(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	as := snap.Assignments
	if r.URL.RawQuery != "" {
		// A listing (spec 2.2.1): the store filters, sorts and pages the
		// ids; the status needs the whole model (roles, schedules), so it
		// comes from the snapshot.
		q, err := parseListing(r, store.AssignmentColumns)
		if err != nil {
			return err
		}
		page, total, err := s.st.AssignmentsPage(r.Context(), m.AccountID, q)
		if err != nil {
			return err
		}
		setTotal(w, total)
		as = pageOf(as, func(a policy.Assignment) string { return a.ID }, page)
	}
	model := policy.NewModel(snap)
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	authors, err := s.authors(r.Context(), m.AccountID, "assignment", ids)
	if err != nil {
		return err
	}
	out := make([]wire.Assignment, 0, len(as))
	for _, a := range as {
		wa := wireAssignment(a, model, s.now())
		wa.CreatedBy, wa.ModifiedBy = authors[a.ID].CreatedBy, authors[a.ID].ModifiedBy
		out = append(out, wa)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// assignmentFromWire validates an assignment request of accountID.
func (s *Server) assignmentFromWire(ctx context.Context, accountID string, req wire.Assignment) (policy.Assignment, error) {
	a := policy.Assignment{Name: req.Name, Description: req.Description, Active: req.Active, RoleID: req.RoleID,
		UserGroupIDs: req.UserGroups, DeviceGroupIDs: req.DeviceGroups}
	if err := checkName(req.Name); err != nil {
		return a, badf("name: %v", err)
	}
	if err := checkDescription(req.Description); err != nil {
		return a, err
	}
	if len(req.UserGroups) == 0 || len(req.UserGroups) > maxGroupRefs || len(req.DeviceGroups) > maxGroupRefs {
		return a, badf("user_groups: 1 to %d groups; device_groups: at most %d", maxGroupRefs, maxGroupRefs)
	}
	var role *policy.Role
	for _, p := range policy.PredefinedRoles() {
		if p.ID == req.RoleID {
			role = &p
		}
	}
	if role == nil {
		rs, err := s.st.Roles(ctx, accountID)
		if err != nil {
			return a, err
		}
		for _, rr := range rs {
			if rr.Role.ID == req.RoleID {
				role = &rr.Role
			}
		}
	}
	if role == nil {
		return a, badf("no role %q in this account", req.RoleID)
	}
	if role.Type == policy.RoleOnDemand {
		if len(req.DeviceGroups) > 0 {
			return a, badf("OnDemand roles are assigned without device groups")
		}
	} else if len(req.DeviceGroups) == 0 {
		return a, badf("device_groups: at least one group (Everything for every device)")
	}
	if err := s.checkGroups(ctx, accountID, req.UserGroups, true); err != nil {
		return a, err
	}
	if err := s.checkGroups(ctx, accountID, req.DeviceGroups, false); err != nil {
		return a, err
	}
	var err error
	a.Schedule, err = scheduleFromWire(req.Schedule)
	return a, err
}

// handleCreateAssignment is POST /api/v1/accounts/{account}/assignments.
func (s *Server) handleCreateAssignment(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	var req wire.Assignment
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" || req.Status != "" {
		return badf("id and status are set by the relay")
	}
	a, err := s.assignmentFromWire(r.Context(), m.AccountID, req)
	if err != nil {
		return err
	}
	if err = s.commit(r.Context(), func(tx *store.Store) (err error) {
		a, err = tx.CreateAssignment(r.Context(), m.AccountID, a)
		return err
	}, func() auditRec {
		return s.recAs(r, u, m.AccountID, EvAssignmentCreated, map[string]any{"assignment": a.ID, "name": a.Name, "role": a.RoleID, "user_groups": a.UserGroupIDs,
			"device_groups": a.DeviceGroupIDs, "active": a.Active, "scheduled": a.Schedule != nil})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireAssignment(a, nil, s.now()))
	return nil
}

// handleUpdateAssignment is PUT /api/v1/accounts/{account}/assignments/{id}.
func (s *Server) handleUpdateAssignment(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	var req wire.Assignment
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" && req.ID != r.PathValue("id") {
		return badf("the id in the body is not the one in the path")
	}
	a, err := s.assignmentFromWire(r.Context(), m.AccountID, req)
	if err != nil {
		return err
	}
	a.ID = r.PathValue("id")
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.UpdateAssignment(r.Context(), m.AccountID, a) }, func() auditRec {
		return s.recAs(r, u, m.AccountID, EvAssignmentUpdated, map[string]any{"assignment": a.ID, "name": a.Name, "role": a.RoleID, "user_groups": a.UserGroupIDs,
			"device_groups": a.DeviceGroupIDs, "active": a.Active, "scheduled": a.Schedule != nil})
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no role assignment %q in this account", a.ID)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireAssignment(a, nil, s.now()))
	return nil
}

// handleDeleteAssignment is DELETE /api/v1/accounts/{account}/assignments/{id}.
func (s *Server) handleDeleteAssignment(w http.ResponseWriter, r *http.Request) error {
	u, m, err := s.accessAdmin(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteAssignment(r.Context(), m.AccountID, id) }, func() auditRec {
		return s.recAs(r, u, m.AccountID, EvAssignmentDeleted, map[string]any{"assignment": id})
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no role assignment %q in this account", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
