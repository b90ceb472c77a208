package policy

import (
	"reflect"
	"testing"
)

func TestPermissionNames(t *testing.T) {
	// The names travel in grants: renaming one breaks deployed hosts.
	want := []string{"view_screen", "keyboard_mouse", "lock_input", "blank_screen", "clipboard",
		"execute_command", "file_transfer", "chat", "power"}
	if got := FullSet().Strings(); !reflect.DeepEqual(got, want) {
		t.Fatalf("FullSet().Strings() = %q, want %q", got, want)
	}
	for _, p := range AllPermissions {
		if !p.Valid() {
			t.Errorf("%q not valid", p)
		}
	}
	for _, p := range []Permission{"", "View_Screen", "view_screen ", "admin"} {
		if p.Valid() {
			t.Errorf("%q valid", p)
		}
	}
}

func TestSetOperations(t *testing.T) {
	var zero Set
	if !zero.Empty() || zero.Has(ViewScreen) || zero.List() != nil || zero.Strings() != nil {
		t.Fatal("the zero Set is not empty")
	}
	if zero.Has("bogus") || FullSet().Has("bogus") || FullSet().Has("") {
		t.Fatal("an unknown permission is in a set")
	}

	a, err := NewSet(Chat, ViewScreen, Chat) // duplicates collapse, order is canonical
	if err != nil {
		t.Fatal(err)
	}
	if a.Empty() || !a.Has(ViewScreen) || !a.Has(Chat) || a.Has(KeyboardMouse) {
		t.Fatalf("membership wrong: %v", a.List())
	}
	if got := a.List(); !reflect.DeepEqual(got, []Permission{ViewScreen, Chat}) {
		t.Fatalf("List = %v", got)
	}

	b, _ := NewSet(KeyboardMouse, Chat)
	u := a.Union(b)
	if got := u.Strings(); !reflect.DeepEqual(got, []string{"view_screen", "keyboard_mouse", "chat"}) {
		t.Fatalf("Union = %v", got)
	}
	// Sets are values: Union does not change its operands.
	if a.Has(KeyboardMouse) || b.Has(ViewScreen) {
		t.Fatal("Union modified an operand")
	}
	if a.Union(Set{}) != a || (Set{}).Union(a) != a || a.Union(a) != a {
		t.Fatal("Union identities fail")
	}
	if a.Union(FullSet()) != FullSet() {
		t.Fatal("Union with FullSet is not FullSet")
	}
	for _, p := range AllPermissions {
		if !FullSet().Has(p) {
			t.Errorf("FullSet lacks %q", p)
		}
	}

	empty, err := NewSet()
	if err != nil || !empty.Empty() {
		t.Fatalf("NewSet() = %v, %v", empty, err)
	}
}

// Unknown names are errors, never silently dropped (deny by default is not
// enough: a typo must not quietly narrow a role either).
func TestNewSetRejectsUnknown(t *testing.T) {
	for _, ps := range [][]Permission{{"bogus"}, {ViewScreen, "bogus"}, {""}, {"VIEW_SCREEN"}} {
		s, err := NewSet(ps...)
		if err == nil {
			t.Errorf("NewSet(%q) accepted", ps)
		}
		if !s.Empty() {
			t.Errorf("NewSet(%q) returned a non-empty set with its error", ps)
		}
	}
	if _, err := ParseSet([]string{"view_screen", "root"}); err == nil {
		t.Error("ParseSet accepted an unknown name")
	}
	s, err := ParseSet([]string{"power", "view_screen"})
	if err != nil || !reflect.DeepEqual(s.Strings(), []string{"view_screen", "power"}) {
		t.Fatalf("ParseSet = %v, %v", s.Strings(), err)
	}
	if s, err := ParseSet(nil); err != nil || !s.Empty() {
		t.Fatalf("ParseSet(nil) = %v, %v", s, err)
	}
}

func TestSetStringsRoundTrip(t *testing.T) {
	// Every subset survives Strings → ParseSet.
	for mask := 0; mask < 1<<len(AllPermissions); mask++ {
		var ps []Permission
		for i, p := range AllPermissions {
			if mask&(1<<i) != 0 {
				ps = append(ps, p)
			}
		}
		s, err := NewSet(ps...)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSet(s.Strings())
		if err != nil || back != s || len(s.List()) != len(ps) {
			t.Fatalf("mask %b: %v → %v (%v)", mask, s.List(), back.List(), err)
		}
	}
}
