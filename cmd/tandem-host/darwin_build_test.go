package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDarwinHostBuild cross-builds the macOS Host for both Mac
// architectures without cgo and vets its platform packages for darwin:
// capture and input go through purego (internal/quartz), so no Mac
// toolchain is needed, and the binary must carry the real Quartz back ends
// (their symbol names, looked up at run time) rather than the stubs that
// answer "no input injection in this build".
func TestDarwinHostBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds take a minute or two cold")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			env := append(os.Environ(), "GOOS=darwin", "GOARCH="+arch, "CGO_ENABLED=0")
			bin := filepath.Join(t.TempDir(), "tandem-host")
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
			build.Env = env
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("darwin/%s build: %v\n%s", arch, err, out)
			}
			vet := exec.CommandContext(ctx, "go", "vet", "../../capture", "../../input", "../../internal/quartz",
				"../../agent", ".")
			vet.Env = env
			if out, err := vet.CombinedOutput(); err != nil {
				t.Fatalf("darwin/%s vet: %v\n%s", arch, err, out)
			}
			exe, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			for _, sym := range []string{"CGWindowListCreateImage", "CGGetActiveDisplayList",
				"CGEventCreateKeyboardEvent", "CGEventCreateMouseEvent", "CGEventPost", "AXIsProcessTrusted"} {
				if !bytes.Contains(exe, []byte(sym)) {
					t.Errorf("darwin/%s: %s is not in the binary: no real capture or input", arch, sym)
				}
			}
			for _, stub := range []string{"no input injection in this", "screen capture on %s"} {
				if bytes.Contains(exe, []byte(stub)) {
					t.Errorf("darwin/%s: the binary holds the stub's %q", arch, stub)
				}
			}
		})
	}
}
