// Package policy is Tandem's access model: permissions, signed session grants
// and (with the access-model work) the evaluator of role assignments. It is
// pure logic: it takes data and a clock and does no I/O. Everything here is
// deny by default: an absent permission is a refusal.
package policy

import (
	"fmt"
	"slices"
)

// Permission is one thing a technician may do in a session. The names are
// the spec's Device role permissions and travel in grants as strings.
type Permission string

const (
	ViewScreen     Permission = "view_screen"
	KeyboardMouse  Permission = "keyboard_mouse"
	LockInput      Permission = "lock_input"
	BlankScreen    Permission = "blank_screen"
	Clipboard      Permission = "clipboard"
	ExecuteCommand Permission = "execute_command"
	FileTransfer   Permission = "file_transfer"
	Chat           Permission = "chat"
	PowerActions   Permission = "power"
)

// AllPermissions lists every device permission, in the spec's order.
var AllPermissions = []Permission{
	ViewScreen, KeyboardMouse, LockInput, BlankScreen, Clipboard,
	ExecuteCommand, FileTransfer, Chat, PowerActions,
}

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool { return slices.Contains(AllPermissions, p) }

// Set is an immutable set of permissions.
type Set struct{ bits uint32 }

func bit(p Permission) uint32 {
	i := slices.Index(AllPermissions, p)
	if i < 0 {
		return 0
	}
	return 1 << i
}

// NewSet builds a set; unknown names are an error so a typo never widens or
// silently narrows access.
func NewSet(ps ...Permission) (Set, error) {
	var s Set
	for _, p := range ps {
		b := bit(p)
		if b == 0 {
			return Set{}, fmt.Errorf("policy: unknown permission %q", p)
		}
		s.bits |= b
	}
	return s, nil
}

// ParseSet is NewSet over strings (grants, API bodies).
func ParseSet(names []string) (Set, error) {
	ps := make([]Permission, len(names))
	for i, n := range names {
		ps[i] = Permission(n)
	}
	return NewSet(ps...)
}

// FullSet holds every permission.
func FullSet() Set { s, _ := NewSet(AllPermissions...); return s }

// Has reports whether p is in the set.
func (s Set) Has(p Permission) bool { b := bit(p); return b != 0 && s.bits&b != 0 }

// Union returns s ∪ o.
func (s Set) Union(o Set) Set { return Set{s.bits | o.bits} }

// Empty reports whether no permission is granted.
func (s Set) Empty() bool { return s.bits == 0 }

// List returns the permissions in canonical order.
func (s Set) List() []Permission {
	var out []Permission
	for _, p := range AllPermissions {
		if s.Has(p) {
			out = append(out, p)
		}
	}
	return out
}

// Strings returns List as strings.
func (s Set) Strings() []string {
	var out []string
	for _, p := range s.List() {
		out = append(out, string(p))
	}
	return out
}
