package input

import (
	"strings"
	"testing"
)

func TestPermissionsProblem(t *testing.T) {
	if p := (Permissions{}).Problem(); p != "" {
		t.Fatalf("unchecked: %q", p)
	}
	if p := (Permissions{Checked: true, ScreenRecording: true, Accessibility: true}).Problem(); p != "" {
		t.Fatalf("all granted: %q", p)
	}
	p := Permissions{Checked: true, Accessibility: true}.Problem()
	if !strings.Contains(p, "Screen Recording") || strings.Contains(p, "Accessibility (") || !strings.Contains(p, "Privacy & Security") {
		t.Fatalf("screen recording missing: %q", p)
	}
	p = Permissions{Checked: true, ScreenRecording: true}.Problem()
	if !strings.Contains(p, "Accessibility (") || strings.Contains(p, "Screen Recording (") {
		t.Fatalf("accessibility missing: %q", p)
	}
	if got := CheckPermissions(); got.Checked { // Linux/Windows: nothing to check
		t.Fatalf("checked on this platform: %+v", got)
	}
}
