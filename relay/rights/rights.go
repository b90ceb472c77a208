// Package rights holds the admin rights of roles document 002 that a
// membership holds beside its type (any number of them), and the pure
// rules of what each allows. The relay's user handlers ask these rules;
// the member types' own rank rules stay with them.
//
//   - API user (api): may hold API keys.
//   - Log administrator (log_admin): reads every event of the account.
//   - User administrator (user_admin): invites users and removes them,
//     gives and takes the rights it holds itself (equal or lower, never
//     more), only on plain users who hold no right it lacks; it changes
//     nothing else of a user (not the email, name, type or state).
//   - User creator (user_creator): invites users, gives no rights.
//   - Both create user groups (not device groups); putting users in
//     groups stays with administrators, since a user group's members get
//     the access of its role assignments.
//
// Without a right (and as a plain user) a member sees only their own
// activity; administrators and the owner hold every right implicitly.
package rights

import (
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/store"
)

// Right is one admin right; its value is its JSON field name.
type Right string

// The rights, in the order the API and the Portal list them.
const (
	API         Right = "api"
	LogAdmin    Right = "log_admin"
	UserAdmin   Right = "user_admin"
	UserCreator Right = "user_creator"
)

// All lists every right.
var All = []Right{API, LogAdmin, UserAdmin, UserCreator}

// Set is a set of rights.
type Set map[Right]bool

// Of is the set of rights m holds explicitly.
func Of(m store.Membership) Set {
	return Set{API: m.API, LogAdmin: m.LogAdmin, UserAdmin: m.UserAdmin, UserCreator: m.UserCreator}
}

// Within reports whether every right of s is in o.
func (s Set) Within(o Set) bool {
	for r, held := range s {
		if held && !o[r] {
			return false
		}
	}
	return true
}

// SetOn writes v for r into m.
func SetOn(m *store.Membership, r Right, v bool) {
	switch r {
	case API:
		m.API = v
	case LogAdmin:
		m.LogAdmin = v
	case UserAdmin:
		m.UserAdmin = v
	case UserCreator:
		m.UserCreator = v
	}
}

// ManagesUsers: who sees the account's users and pending invitations.
func ManagesUsers(m store.Membership) bool {
	return api.IsManager(m.Type) || m.UserAdmin || m.UserCreator
}

// MayGrant: who gives or takes r. Administrators and the owner give any
// right; a user administrator only the rights it holds itself.
func MayGrant(actor store.Membership, r Right) bool {
	return api.IsAdmin(actor.Type) || (actor.UserAdmin && Of(actor)[r])
}

// InvitesAs: a user administrator or user creator invites plain users
// (type user) whatever its own type; the types' rank rules may allow more.
func InvitesAs(actor store.Membership, t store.MemberType) bool {
	return (actor.UserAdmin || actor.UserCreator) && t == store.Member
}

// CreatesUserGroups: the user administrator and user creator create user
// groups (not device groups; adding members stays with administrators,
// since a user group's members get its role assignments' access).
func CreatesUserGroups(m store.Membership) bool { return m.UserAdmin || m.UserCreator }

// MayRemove: a user administrator removes another plain user who holds
// no right it lacks itself (the types' rank rules may allow more).
func MayRemove(actor, target store.Membership, self bool) bool {
	return actor.UserAdmin && !self && target.Type == store.Member && Of(target).Within(Of(actor))
}

// MayEditRights: a user administrator changes the rights of another plain
// user who holds no right it lacks; each changed right must also pass
// MayGrant.
func MayEditRights(actor, target store.Membership, self bool) bool {
	return MayRemove(actor, target, self)
}
