package console

import (
	"context"
	"strings"
	"testing"
)

func TestRunWithoutDisplayFailsClearly(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	err := Run(context.Background(), Options{ConfigDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no display") {
		t.Fatalf("Run without a display: %v", err)
	}
	if err := Run(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "configuration directory") {
		t.Fatalf("Run without a configuration directory: %v", err)
	}
}
