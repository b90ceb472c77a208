package scope

import "testing"

func TestLevels(t *testing.T) {
	for _, n := range []string{"view", "edit", "admin"} {
		if l, ok := Parse(n); !ok || l.String() != n {
			t.Errorf("%s: %v %v", n, l, ok)
		}
	}
	for _, n := range []string{"", "owner", "Admin", "none"} {
		if _, ok := Parse(n); ok {
			t.Errorf("%q parsed", n)
		}
	}
	if Highest([]string{"view", "bogus", "edit"}) != Edit || Highest(nil) != None {
		t.Error("highest")
	}
	cases := []struct {
		g, l Level
		ok   bool
	}{{Admin, Admin, true}, {Admin, View, true}, {Edit, View, false}, {View, View, false}, {Admin, None, false}, {None, View, false}}
	for _, c := range cases {
		if CanGrant(c.g, c.l) != c.ok {
			t.Errorf("CanGrant(%v, %v) != %v", c.g, c.l, c.ok)
		}
	}
}
