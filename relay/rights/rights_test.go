package rights

import (
	"testing"

	"github.com/tandem-rc/tandem/relay/store"
)

// member builds a membership of type t holding rs.
func member(t store.MemberType, rs ...Right) store.Membership {
	m := store.Membership{Type: t}
	for _, r := range rs {
		SetOn(&m, r, true)
	}
	return m
}

// TestRules: each right allows what roles document 002 says and nothing
// more; the member types' rank rules (in the relay) are not asked here.
func TestRules(t *testing.T) {
	plain := member(store.Member)
	ua := member(store.Member, UserAdmin, API)
	uc := member(store.Member, UserCreator)
	la := member(store.Member, LogAdmin)
	ak := member(store.Member, API)
	gm := member(store.GroupManager)
	admin := member(store.Admin)
	tests := []struct {
		name                   string
		actor                  store.Membership
		manages                bool
		invitesUser, invitesGM bool
		grants                 Set // MayGrant per right
		removes, edits         []store.Membership
		keeps                  []store.Membership // neither removed nor rights-edited
	}{
		{name: "no rights", actor: plain, grants: Set{}, keeps: []store.Membership{plain, la, uc}},
		{name: "api user", actor: ak, grants: Set{}, keeps: []store.Membership{plain}},
		{name: "log administrator", actor: la, grants: Set{}, keeps: []store.Membership{plain}},
		{name: "user creator", actor: uc, manages: true, invitesUser: true, grants: Set{}, keeps: []store.Membership{plain, ak}},
		{name: "user administrator", actor: ua, manages: true, invitesUser: true, grants: Set{UserAdmin: true, API: true},
			removes: []store.Membership{plain, ak, member(store.Member, UserAdmin)},
			keeps:   []store.Membership{la, uc, gm, admin, member(store.Member, UserAdmin, API, LogAdmin)}},
		{name: "group manager", actor: gm, manages: true, grants: Set{}, keeps: []store.Membership{plain}},
		{name: "administrator", actor: admin, manages: true, grants: Set{API: true, LogAdmin: true, UserAdmin: true, UserCreator: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ManagesUsers(tc.actor); got != tc.manages {
				t.Errorf("ManagesUsers = %v", got)
			}
			if got := CreatesUserGroups(tc.actor); got != tc.invitesUser {
				t.Errorf("CreatesUserGroups = %v", got)
			}
			if got := InvitesAs(tc.actor, store.Member); got != tc.invitesUser {
				t.Errorf("InvitesAs(user) = %v", got)
			}
			for _, typ := range []store.MemberType{store.GroupManager, store.Admin, store.Owner} {
				if InvitesAs(tc.actor, typ) {
					t.Errorf("InvitesAs(%s): a right never invites above a plain user", typ)
				}
			}
			for _, r := range All {
				if got := MayGrant(tc.actor, r); got != tc.grants[r] {
					t.Errorf("MayGrant(%s) = %v", r, got)
				}
			}
			for _, target := range tc.removes {
				if !MayRemove(tc.actor, target, false) || !MayEditRights(tc.actor, target, false) {
					t.Errorf("may not remove or edit %+v", target)
				}
				if MayRemove(tc.actor, target, true) || MayEditRights(tc.actor, target, true) {
					t.Errorf("may remove or edit itself")
				}
			}
			for _, target := range tc.keeps {
				if MayRemove(tc.actor, target, false) || MayEditRights(tc.actor, target, false) {
					t.Errorf("may remove or edit %+v", target)
				}
			}
		})
	}
}
