// Package scope is scoped administration (issue 17, seed 001): a member
// holds View, Edit or Admin on a device group, and through it on the
// group's devices. View sees them; Edit also edits them; Admin also grants
// levels on the group to others, never above its own. Pure logic.
package scope

import "slices"

// Level is a member's level on a device group; None holds nothing.
type Level int

const (
	None Level = iota
	View
	Edit
	Admin
)

var names = []string{"", "view", "edit", "admin"}

// Parse reads a level's name ("view", "edit", "admin").
func Parse(s string) (Level, bool) {
	i := slices.Index(names, s)
	if i <= 0 {
		return None, false
	}
	return Level(i), true
}

func (l Level) String() string {
	if l < None || l > Admin {
		return ""
	}
	return names[l]
}

// Highest is the highest of levels held (by name; unknown names count for
// nothing): a device in two groups gives the better of the two.
func Highest(levels []string) Level {
	best := None
	for _, n := range levels {
		if l, ok := Parse(n); ok && l > best {
			best = l
		}
	}
	return best
}

// CanGrant says whether a member holding granter on a group may give (or
// take back) level on it: Admin only, and never above its own.
func CanGrant(granter, level Level) bool {
	return granter >= Admin && level > None && level <= granter
}
