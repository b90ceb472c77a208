package relay

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/rights"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Invitations (spec 4.1.1): valid 7 days, resent at most 5 times.
const (
	inviteTTL        = 7 * 24 * time.Hour
	inviteMaxResends = 5
	resetTTL         = time.Hour
)

// userRoutes are the user-management endpoints (spec ch. 2, 4.1, 5.1).
func (s *Server) userRoutes() []route {
	return append([]route{
		{"POST", "/api/v1/login/mfa", s.api(s.handleLoginMFA)},
		{"GET", "/api/v1/accounts/{account}/users", s.api(s.handleListUsers)},
		{"GET", "/api/v1/accounts/{account}/users/{id}", s.api(s.handleGetUser)},
		{"PATCH", "/api/v1/accounts/{account}/users/{id}", s.api(s.handlePatchUser)},
		{"DELETE", "/api/v1/accounts/{account}/users/{id}", s.api(s.handleDeleteUser)},
		{"POST", "/api/v1/accounts/{account}/users/{id}/unlock", s.api(s.handleUnlockUser)},
		{"GET", "/api/v1/accounts/{account}/invites", s.api(s.handleListInvites)},
		{"POST", "/api/v1/accounts/{account}/invites", s.api(s.handleInvite)},
		{"POST", "/api/v1/accounts/{account}/invites/{id}/resend", s.api(s.handleResendInvite)},
		{"DELETE", "/api/v1/accounts/{account}/invites/{id}", s.api(s.handleDeleteInvite)},
		{"PUT", "/api/v1/accounts/{account}/owner", s.api(s.handleChangeOwner)},
		{"GET", "/api/v1/accounts/{account}/security", s.api(s.handleGetSecurity)},
		{"PUT", "/api/v1/accounts/{account}/security", s.api(s.handlePutSecurity)},
		{"POST", "/api/v1/invites/accept", s.api(s.handleAcceptInvite)},
		{"POST", "/api/v1/password/forgot", s.api(s.handleForgotPassword)},
		{"POST", "/api/v1/password/reset", s.api(s.handleResetPassword)},
		{"PATCH", "/api/v1/me", s.api(s.handlePatchMe)},
		{"POST", "/api/v1/me/password", s.api(s.handleChangePassword)},
		{"POST", "/api/v1/me/recovery-codes", s.api(s.handleRecoveryCodes)},
		{"PATCH", "/api/v1/me/accounts/{account}", s.api(s.handlePatchMyMembership)},
	}, slices.Concat(s.factorRoutes(), s.passkeyRoutes(), s.smsRoutes())...)
}

// --- the rank rules (spec 4.1): pure, table-tested ------------------------------

// canManageUsers: group managers and up manage users (spec 4.1: "Group
// manager – ... the ability to manage users and devices").
func canManageUsers(actor store.MemberType) bool { return actor.Rank() >= store.GroupManager.Rank() }

// canEdit: nobody edits a user above their own type (spec 4.1.5).
func canEdit(actor, target store.MemberType) bool {
	return canManageUsers(actor) && target.Valid() && target.Rank() <= actor.Rank()
}

// canAssign: nobody gives a type above their own; the owner type only
// moves through the change-owner flow, never by edit or invitation.
func canAssign(actor, t store.MemberType) bool {
	return canManageUsers(actor) && t.Valid() && t != store.Owner && t.Rank() <= actor.Rank()
}

// mayChange: nobody changes the membership, type, rights or groups of a
// user at or above their own type, themself included; the owner alone
// may. Without it an administrator could demote a peer, then remove them.
func mayChange(actor, target store.MemberType, self bool) bool {
	if actor == store.Owner {
		return true
	}
	return !self && canManageUsers(actor) && target.Valid() && target.Rank() < actor.Rank()
}

// canRemove: only users below one's own type (spec 4.1.6), never the owner.
func canRemove(actor, target store.MemberType) bool {
	return canManageUsers(actor) && target.Valid() && target != store.Owner && target.Rank() < actor.Rank()
}

// accountCaller authenticates r and finds the caller's membership of the
// {account} in the path, which must be at least of type min. An account
// the caller is not in (or not the one its API key is for) is 404, as if
// it did not exist.
func (s *Server) accountCaller(r *http.Request, min store.MemberType) (authed, store.AccountUser, error) {
	a, err := s.authenticate(r)
	if err != nil {
		return a, store.AccountUser{}, err
	}
	id := r.PathValue("account")
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no account %q among yours", id)
	if len(id) > maxID || (a.APIKey != nil && a.APIKey.AccountID != id) {
		return a, store.AccountUser{}, notFound
	}
	me, err := s.st.AccountUser(r.Context(), id, a.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return a, me, notFound
	} else if err != nil {
		return a, me, err
	}
	if me.Disabled {
		return a, me, errf(http.StatusForbidden, api.CodeForbidden, "you are disabled in this account")
	}
	if me.Type.Rank() < min.Rank() {
		return a, me, errf(http.StatusForbidden, api.CodeForbidden, "this needs the %s type or higher in the account", typeName(min))
	}
	return a, me, nil
}

// userManager is accountCaller for the user-management routes: group
// managers and up, user administrators and user creators (relay/rights).
func (s *Server) userManager(r *http.Request) (authed, store.AccountUser, error) {
	a, me, err := s.accountCaller(r, store.Member)
	if err == nil && !rights.ManagesUsers(me.Membership) {
		err = errf(http.StatusForbidden, api.CodeForbidden, "this needs the Group manager type or higher, or the user administrator or user creator right")
	}
	return a, me, err
}

func typeName(t store.MemberType) string {
	switch t {
	case store.Owner:
		return "Account owner"
	case store.Admin:
		return "Account administrator"
	case store.GroupManager:
		return "Group manager"
	}
	return "User"
}

// target loads the {id} member of the caller's account: 404 when absent.
func (s *Server) target(r *http.Request, accountID string) (store.AccountUser, error) {
	id := r.PathValue("id")
	if len(id) > maxID {
		return store.AccountUser{}, errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", id)
	}
	t, err := s.st.AccountUser(r.Context(), accountID, id)
	if errors.Is(err, store.ErrNotFound) {
		return t, errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", id)
	}
	return t, err
}

func (s *Server) wireMember(au store.AccountUser) wire.Member {
	return wire.Member{
		ID: au.User.ID, Email: au.User.Email, Name: au.User.Name, Type: string(au.Type), RCAction: au.RCAction,
		OnDemand: au.OnDemand, API: au.API, MFA: au.MFA, Disabled: au.Disabled || au.User.Disabled, LogAdmin: au.LogAdmin,
		UserAdmin: au.UserAdmin, UserCreator: au.UserCreator,
		Locked: s.now().Before(au.User.LockedUntil), Auth: au.User.Auth, CreatedAt: au.CreatedAt.Unix(),
		ModifiedAt: au.UpdatedAt.Unix(),
	}
}

// handleListUsers is GET /api/v1/accounts/{account}/users.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	_, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	var list []store.AccountUser
	if r.URL.RawQuery == "" {
		list, err = s.st.AccountUsers(r.Context(), me.AccountID)
	} else {
		// A listing (spec 2.2.1): filtered, sorted and paged in SQL.
		q, perr := parseListing(r, store.MemberColumns)
		if perr != nil {
			return perr
		}
		var total int
		list, total, err = s.st.AccountUsersPage(r.Context(), me.AccountID, q)
		setTotal(w, total)
	}
	if err != nil {
		return err
	}
	groups, err := s.st.UserGroupNames(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	out := make([]wire.Member, 0, len(list))
	for _, au := range list {
		m := s.wireMember(au)
		m.Groups = groups[m.ID]
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleGetUser is GET /api/v1/accounts/{account}/users/{id}: managers see
// anyone in the account, a user only themself.
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.accountCaller(r, store.Member)
	if err != nil {
		return err
	}
	if r.PathValue("id") != a.User.ID && !rights.ManagesUsers(me.Membership) {
		return errf(http.StatusForbidden, api.CodeForbidden, "only group managers and up, user administrators and user creators see other users")
	}
	t, err := s.target(r, me.AccountID)
	if err != nil {
		return err
	}
	out := s.wireMember(t)
	// Logins are audited without an account (logging off in an account
	// does not drop them), newest first on the actor index.
	logins, err := s.st.Audit(r.Context(), store.AuditFilter{Event: EvLogin, UserID: t.UserID, Limit: 1})
	if err != nil {
		return err
	}
	if len(logins) > 0 {
		out.LastLogin = logins[0].At.Unix()
	}
	groups, err := s.st.UserGroupNames(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	out.Groups = groups[t.UserID]
	if err := s.presence(r.Context(), &out, t.User.Disabled); err != nil {
		return err
	}
	authors, err := s.authors(r.Context(), me.AccountID, "user", []string{t.UserID})
	if err != nil {
		return err
	}
	out.CreatedBy, out.ModifiedBy = authors[t.UserID].CreatedBy, authors[t.UserID].ModifiedBy
	// An invited member was created by who invited them: the audit log's
	// creation is their own acceptance.
	if by, err := s.st.InviterName(r.Context(), me.AccountID, t.UserID); err != nil {
		return err
	} else if by != "" {
		out.CreatedBy = by
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// presence sets m's Presence (spec 4.1.4): inactive when disabled, online
// while a login session of the user is live (since it began), else
// offline since the last login.
func (s *Server) presence(ctx context.Context, m *wire.Member, userDisabled bool) error {
	if m.Disabled || userDisabled {
		m.Presence = "inactive"
		return nil
	}
	since, err := s.st.LiveSince(ctx, m.ID, s.now())
	if err != nil {
		return err
	}
	if since.IsZero() {
		m.Presence, m.PresenceSince = "offline", m.LastLogin
	} else {
		m.Presence, m.PresenceSince = "online", since.Unix()
	}
	return nil
}

func validRCAction(v string) bool { return v == store.RCGuest || v == store.RCBrowser }

// handlePatchUser is PATCH /api/v1/accounts/{account}/users/{id}.
func (s *Server) handlePatchUser(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	if !canManageUsers(me.Type) && !me.UserAdmin {
		return errf(http.StatusForbidden, api.CodeForbidden, "a user creator edits no user")
	}
	var req wire.MemberUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req == (wire.MemberUpdate{}) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "nothing to change: send name, type, rc_action, ondemand, api, mfa, disabled, log_admin, user_admin or user_creator")
	}
	if req.Name != nil {
		if err := checkText("name", *req.Name, maxShortText); err != nil {
			return err
		}
	}
	if req.Type != nil && !store.MemberType(*req.Type).Valid() {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "type is one of user, group_manager, admin")
	}
	if req.RCAction != nil && !validRCAction(*req.RCAction) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "rc_action is guest or browser")
	}
	t, err := s.target(r, me.AccountID)
	if err != nil {
		return err
	}
	self := t.UserID == a.User.ID
	if !canManageUsers(me.Type) {
		// A plain user edits others only as a user administrator, and then
		// only their rights (not the email, name, type or state).
		if !rights.MayEditRights(me.Membership, t.Membership, self) {
			return errf(http.StatusForbidden, api.CodeForbidden, "only group managers and up edit users; a user administrator changes the rights of other plain users who hold no right it lacks")
		}
		if req.Name != nil || req.Type != nil || req.RCAction != nil || req.OnDemand != nil || req.MFA != nil || req.Disabled != nil {
			return errf(http.StatusForbidden, api.CodeForbidden, "a user administrator changes only rights: api, log_admin, user_admin, user_creator")
		}
	} else if !canEdit(me.Type, t.Type) {
		return errf(http.StatusForbidden, api.CodeForbidden, "you cannot edit a user whose type is above yours")
	} else if !self && !mayChange(me.Type, t.Type, false) {
		return errf(http.StatusForbidden, api.CodeForbidden, "you can change only users whose type is below yours")
	}
	m := t.Membership
	detail := map[string]any{"user": t.UserID}
	if req.Type != nil && store.MemberType(*req.Type) != m.Type {
		nt := store.MemberType(*req.Type)
		switch {
		case self:
			return errf(http.StatusForbidden, api.CodeForbidden, "you cannot change your own type")
		case m.Type == store.Owner || nt == store.Owner:
			return errf(http.StatusForbidden, api.CodeForbidden, "the account owner changes only through the change-owner flow")
		case !canAssign(me.Type, nt):
			return errf(http.StatusForbidden, api.CodeForbidden, "you cannot give a type above your own")
		}
		detail["type"] = map[string]any{"from": string(m.Type), "to": string(nt)}
		m.Type = nt
	}
	if req.Disabled != nil && *req.Disabled != m.Disabled {
		if self || m.Type == store.Owner {
			return errf(http.StatusForbidden, api.CodeForbidden, "you cannot disable yourself or the account owner")
		}
		m.Disabled = *req.Disabled
		detail["disabled"] = m.Disabled
	}
	if req.MFA != nil && *req.MFA != m.MFA {
		if me.AccountMFA == store.MFAEnforced {
			return errf(http.StatusConflict, api.CodeMFAEnforced, "the account enforces MFA for everyone; change it in the account security first")
		}
		m.MFA = *req.MFA
		detail["mfa"] = m.MFA
	}
	if req.RCAction != nil && *req.RCAction != m.RCAction {
		m.RCAction = *req.RCAction
		detail["rc_action"] = m.RCAction
	}
	if req.OnDemand != nil && *req.OnDemand != m.OnDemand {
		if !mayChange(me.Type, t.Type, self) && me.Type.Rank() < store.Admin.Rank() {
			return errf(http.StatusForbidden, api.CodeForbidden, "you cannot change your own rights; ask an administrator")
		}
		m.OnDemand = *req.OnDemand
		detail["ondemand"] = m.OnDemand
	}
	// The admin rights (API keys act without MFA; the others read or
	// manage other people): administrators give them, a user
	// administrator only those it holds.
	for r, v := range map[rights.Right]*bool{rights.API: req.API, rights.LogAdmin: req.LogAdmin,
		rights.UserAdmin: req.UserAdmin, rights.UserCreator: req.UserCreator} {
		if v == nil || *v == rights.Of(m)[r] {
			continue
		}
		if !rights.MayGrant(me.Membership, r) {
			return errf(http.StatusForbidden, api.CodeForbidden, "only account administrators and the owner, or a user administrator holding it, give or take the %s right", r)
		}
		rights.SetOn(&m, r, *v)
		detail[string(r)] = *v
	}
	m.UpdatedAt = s.now()
	ip := remoteIP(r)
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		if err := tx.UpdateMembership(r.Context(), m); err != nil {
			return err
		}
		if req.Name != nil && *req.Name != t.User.Name {
			if err := tx.SetUserName(r.Context(), t.UserID, *req.Name); err != nil {
				return err
			}
			t.User.Name = *req.Name
			detail["name"] = *req.Name
		}
		if len(detail) > 1 {
			audit(auditRec{Event: EvUserUpdated, Account: me.AccountID, User: a.User.ID, Remote: ip, Detail: detail})
		}
		if d, ok := detail["disabled"].(bool); ok {
			ev := EvUserEnabled
			if d {
				ev = EvUserDisabled
			}
			audit(auditRec{Event: ev, Account: me.AccountID, User: a.User.ID, Remote: ip, Detail: map[string]any{"user": t.UserID}})
		}
		if v, ok := detail["mfa"].(bool); ok {
			audit(auditRec{Event: EvUserMFAChanged, Account: me.AccountID, User: a.User.ID, Remote: ip,
				Detail: map[string]any{"user": t.UserID, "mfa": v}})
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.Membership = m
	writeJSON(w, http.StatusOK, s.wireMember(t))
	return nil
}

// handleDeleteUser is DELETE /api/v1/accounts/{account}/users/{id}: the
// user leaves the account (and is deleted when it was their last).
func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	t, err := s.target(r, me.AccountID)
	if err != nil {
		return err
	}
	self := t.UserID == a.User.ID
	if self || (!canRemove(me.Type, t.Type) && !rights.MayRemove(me.Membership, t.Membership, self)) {
		return errf(http.StatusForbidden, api.CodeForbidden, "you can remove only users whose type is below yours, never yourself or the owner")
	}
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		deleted, err := tx.RemoveMembership(r.Context(), me.AccountID, t.UserID)
		if err != nil {
			return err
		}
		audit(auditRec{Event: EvUserRemoved, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"user": t.UserID, "email": t.User.Email, "type": string(t.Type), "user_deleted": deleted}})
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", t.UserID)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleUnlockUser is POST /api/v1/accounts/{account}/users/{id}/unlock:
// ends a lockout early.
func (s *Server) handleUnlockUser(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.accountCaller(r, store.GroupManager)
	if err != nil {
		return err
	}
	t, err := s.target(r, me.AccountID)
	if err != nil {
		return err
	}
	// Lifting a lock takes nothing from anyone: administrators may lift
	// the owner's too (a guesser could otherwise keep the owner out).
	if !canEdit(me.Type, t.Type) && me.Type.Rank() < store.Admin.Rank() {
		return errf(http.StatusForbidden, api.CodeForbidden, "you cannot unlock a user whose type is above yours")
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.UnlockUser(r.Context(), t.UserID, s.now()) },
		func() auditRec {
			return auditRec{Event: EvUserUnlocked, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
				Detail: map[string]any{"user": t.UserID}}
		}); err != nil {
		return err
	}
	// The in-memory backoff follows the committed unlock only.
	s.gd.backoff.ForgetUser(t.User.Email)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- invitations ------------------------------------------------------------------------

func (s *Server) wireInvite(in store.Invite) wire.Invite {
	return wire.Invite{ID: in.ID, Email: in.Email, Name: in.Name, Type: string(in.Type), Resends: in.Resends,
		ExpiresAt: in.ExpiresAt.Unix(), Expired: !s.now().Before(in.ExpiresAt)}
}

func inviterName(me store.AccountUser) string {
	if me.User.Name != "" {
		return me.User.Name + " <" + me.User.Email + ">"
	}
	return me.User.Email
}

// handleInvite is POST /api/v1/accounts/{account}/invites.
func (s *Server) handleInvite(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	var req wire.InviteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "email: %v", err)
	}
	if err := checkText("name", req.Name, maxShortText); err != nil {
		return err
	}
	typ := store.MemberType(req.Type)
	if req.Type == "" {
		typ = store.Member
	}
	if !typ.Valid() {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "type is one of user, group_manager, admin")
	}
	if !canAssign(me.Type, typ) && !rights.InvitesAs(me.Membership, typ) {
		return errf(http.StatusForbidden, api.CodeForbidden, "you cannot invite with a type above your own (or as owner)")
	}
	if req.API && !rights.MayGrant(me.Membership, rights.API) {
		return errf(http.StatusForbidden, api.CodeForbidden, "only account administrators and the owner, or a user administrator holding it, give the API right")
	}
	rc := req.RCAction
	if rc == "" {
		rc = store.RCBrowser
	}
	if !validRCAction(rc) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "rc_action is guest or browser")
	}
	ctx := r.Context()
	if u, err := s.st.UserByEmail(ctx, email); err == nil {
		if _, err := s.st.AccountUser(ctx, me.AccountID, u.ID); err == nil {
			return errf(http.StatusConflict, api.CodeConflict, "%s is already a member of this account", email)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	token := secret.NewToken()
	now := s.now()
	var in store.Invite
	// The invitation and its event commit together; the mail goes out
	// only after (a mail never leaves for an invitation that is not there).
	err = s.commit(ctx, func(tx *store.Store) (err error) {
		in, err = tx.CreateInvite(ctx, store.Invite{AccountID: me.AccountID, Email: email, Name: req.Name, Type: typ,
			OnDemand: req.OnDemand == nil || *req.OnDemand, RCAction: rc, API: req.API, MFA: req.MFA,
			TokenHash: secret.Hash(token), InvitedBy: a.User.ID, CreatedAt: now, ExpiresAt: now.Add(inviteTTL)})
		return err
	}, func() auditRec {
		return auditRec{Event: EvInviteSent, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"invite": in.ID, "email": email, "type": string(typ)}}
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "%s already has a pending invitation; resend it instead", email)
	} else if err != nil {
		return err
	}
	if err := s.sendMail(ctx, inviteMessage(email, me.AccountName, inviterName(me), token, link(s.publicBase(r), "/invite", token), in.ExpiresAt)); err != nil {
		s.log.Error("sending an invitation", "invite", in.ID, "err", err)
		// Withdrawn as the caller would, so the log says why it is gone.
		if err := s.commit(ctx, func(tx *store.Store) error { return tx.DeleteInvite(ctx, in.ID) }, func() auditRec {
			return auditRec{Event: EvInviteWithdrawn, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
				Detail: map[string]any{"invite": in.ID, "email": email, "reason": "mail_failed"}}
		}); err != nil {
			s.log.Error("withdrawing the unsent invitation", "invite", in.ID, "err", err)
		}
		return errf(http.StatusServiceUnavailable, api.CodeMailUnavailable, "the invitation could not be emailed; try again later")
	}
	writeJSON(w, http.StatusCreated, s.wireInvite(in))
	return nil
}

// handleListInvites is GET /api/v1/accounts/{account}/invites: the pending ones.
func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request) error {
	_, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	list, err := s.st.Invites(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	out := make([]wire.Invite, 0, len(list))
	for _, in := range list {
		out = append(out, s.wireInvite(in))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// invite loads the {id} invitation of the caller's account for a change
// the caller's type allows.
func (s *Server) invite(r *http.Request, me store.AccountUser) (store.Invite, error) {
	id := r.PathValue("id")
	notFound := errf(http.StatusNotFound, api.CodeNotFound, "no pending invitation %q in this account", id)
	if len(id) > maxID {
		return store.Invite{}, notFound
	}
	in, err := s.st.Invite(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (in.AccountID != me.AccountID || !in.AcceptedAt.IsZero())) {
		return in, notFound
	} else if err != nil {
		return in, err
	}
	if !canAssign(me.Type, in.Type) && !rights.InvitesAs(me.Membership, in.Type) {
		return in, errf(http.StatusForbidden, api.CodeForbidden, "the invitation is for a type above yours")
	}
	return in, nil
}

// handleResendInvite is POST /api/v1/accounts/{account}/invites/{id}/resend:
// a new token valid 7 days (the old one stops working), at most 5 times.
func (s *Server) handleResendInvite(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	in, err := s.invite(r, me)
	if err != nil {
		return err
	}
	ctx := r.Context()
	token := secret.NewToken()
	id := in.ID
	// The new token and its event commit together, then the mail goes out.
	err = s.commit(ctx, func(tx *store.Store) (err error) {
		in, err = tx.ResendInvite(ctx, id, secret.Hash(token), s.now().Add(inviteTTL), inviteMaxResends)
		return err
	}, func() auditRec {
		return auditRec{Event: EvInviteResent, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"invite": in.ID, "email": in.Email, "resends": in.Resends}}
	})
	switch {
	case errors.Is(err, store.ErrLimit):
		return errf(http.StatusConflict, api.CodeLimit, "the invitation was already resent %d times, the most allowed", inviteMaxResends)
	case errors.Is(err, store.ErrNotFound):
		return errf(http.StatusNotFound, api.CodeNotFound, "no pending invitation %q in this account", id)
	case err != nil:
		return err
	}
	if err := s.sendMail(ctx, inviteMessage(in.Email, me.AccountName, inviterName(me), token, link(s.publicBase(r), "/invite", token), in.ExpiresAt)); err != nil {
		s.log.Error("resending an invitation", "invite", in.ID, "err", err)
		return errf(http.StatusServiceUnavailable, api.CodeMailUnavailable, "the invitation could not be emailed; try again later")
	}
	writeJSON(w, http.StatusOK, s.wireInvite(in))
	return nil
}

// handleDeleteInvite is DELETE /api/v1/accounts/{account}/invites/{id}.
func (s *Server) handleDeleteInvite(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.userManager(r)
	if err != nil {
		return err
	}
	in, err := s.invite(r, me)
	if err != nil {
		return err
	}
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		if err := tx.DeleteInvite(r.Context(), in.ID); err != nil {
			return err
		}
		audit(auditRec{Event: EvInviteWithdrawn, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"invite": in.ID, "email": in.Email}})
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleAcceptInvite is POST /api/v1/invites/accept: a new user sets a
// password; an existing one (invited into a further account) confirms
// with theirs.
func (s *Server) handleAcceptInvite(w http.ResponseWriter, r *http.Request) error {
	var req wire.InviteAccept
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.Token = strings.TrimSpace(req.Token)
	if req.Token == "" || len(req.Token) > 256 {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "token (from the invitation email) is required")
	}
	if req.Password == "" || len(req.Password) > secret.MaxPasswordLen {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "password is required")
	}
	if err := checkText("name", req.Name, maxShortText); err != nil {
		return err
	}
	ip := remoteIP(r)
	if err := s.sourceBlocked(source(ip), "attempts"); err != nil {
		return err
	}
	ctx := r.Context()
	hash := secret.Hash(req.Token)
	in, err := s.st.InviteByToken(ctx, hash)
	invalid := errf(http.StatusBadRequest, api.CodeInvalidToken, "this invitation is not valid: it was used, withdrawn or replaced by a newer email")
	if errors.Is(err, store.ErrNotFound) || (err == nil && !in.AcceptedAt.IsZero()) {
		s.loginIPLimit.fail(source(ip))
		return invalid
	} else if err != nil {
		return err
	}
	now := s.now()
	if !now.Before(in.ExpiresAt) {
		return errf(http.StatusGone, api.CodeTokenExpired, "this invitation expired; ask for it to be resent")
	}
	var newUser *store.User
	u, err := s.st.UserByEmail(ctx, in.Email)
	switch {
	case err == nil:
		ok, err := s.checkPassword(ctx, u.PasswordHash, req.Password)
		if errors.Is(err, errHashBusy) {
			return err
		} else if err != nil || !ok || u.Disabled {
			s.loginIPLimit.fail(source(ip))
			return errf(http.StatusUnauthorized, api.CodeBadCredentials, "%s already has a user: confirm with its password", in.Email)
		}
	case errors.Is(err, store.ErrNotFound):
		if err := secret.ValidatePassword(req.Password); err != nil {
			return errf(http.StatusBadRequest, api.CodeWeakPassword, "%v", err)
		}
		ph, err := s.hashPassword(ctx, req.Password)
		if err != nil {
			return err
		}
		name := req.Name
		if name == "" {
			name = in.Name
		}
		newUser = &store.User{ID: store.NewID(), Email: in.Email, Name: name, PasswordHash: ph}
		u = *newUser
	default:
		return err
	}
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		var err error
		if in, err = tx.AcceptInvite(ctx, hash, now, newUser, u.ID); err != nil {
			return err
		}
		if newUser != nil {
			audit(auditRec{Event: EvUserCreated, Account: in.AccountID, User: u.ID, Remote: ip,
				Detail: map[string]any{"email": u.Email, "type": string(in.Type), "invite": in.ID}})
		}
		audit(auditRec{Event: EvInviteAccepted, Account: in.AccountID, User: u.ID, Remote: ip,
			Detail: map[string]any{"invite": in.ID, "email": in.Email, "type": string(in.Type)}})
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalid
	case errors.Is(err, store.ErrConflict):
		return errf(http.StatusConflict, api.CodeConflict, "%s is already a member of this account", in.Email)
	case err != nil:
		return err
	}
	wu, err := s.wireUser(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wu)
	return nil
}

// handleChangeOwner is PUT /api/v1/accounts/{account}/owner: the owner
// hands the account to another enabled member (confirming with their
// password) and becomes an administrator. The only way the owner type
// moves.
func (s *Server) handleChangeOwner(w http.ResponseWriter, r *http.Request) error {
	a, me, err := s.accountCaller(r, store.Owner)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.OwnerChange
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.User == "" || len(req.User) > maxID {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "user (the new owner's id) is required")
	}
	if req.Password == "" || len(req.Password) > secret.MaxPasswordLen {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "password (yours, to confirm) is required")
	}
	ctx := r.Context()
	t, err := s.st.AccountUser(ctx, me.AccountID, req.User)
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no user %q in this account", req.User)
	} else if err != nil {
		return err
	}
	if t.UserID == a.User.ID || t.Disabled || t.User.Disabled {
		return errf(http.StatusConflict, api.CodeConflict, "the new owner must be another, enabled member")
	}
	ip := remoteIP(r)
	key := source(ip) + "\x00" + a.User.Email
	if blocked, retry := s.loginLimit.blocked(key); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many wrong passwords; wait and try again", RetryAfter: retry}
	}
	if ok, err := s.checkPassword(ctx, a.User.PasswordHash, req.Password); errors.Is(err, errHashBusy) {
		return err
	} else if err != nil || !ok {
		s.loginLimit.fail(key)
		return errf(http.StatusForbidden, api.CodeBadCredentials, "the password is wrong")
	}
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		if err := tx.TransferOwnership(ctx, me.AccountID, a.User.ID, t.UserID, s.now()); err != nil {
			return err
		}
		audit(auditRec{Event: EvOwnerChanged, Account: me.AccountID, User: a.User.ID, Remote: ip,
			Detail: map[string]any{"from": a.User.ID, "to": t.UserID, "to_email": t.User.Email}})
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "the ownership changed meanwhile; reload and try again")
	} else if err != nil {
		return err
	}
	t.Type = store.Owner
	writeJSON(w, http.StatusOK, s.wireMember(t))
	return nil
}
