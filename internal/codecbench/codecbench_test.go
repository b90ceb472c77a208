package codecbench

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun writes a tiny workload (a moving square) and checks the row.
func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "square")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		img := image.NewRGBA(image.Rect(0, 0, 96, 64))
		for y := 10; y < 30; y++ {
			for x := 10 + i*8; x < 30+i*8; x++ {
				img.Set(x, y, color.RGBA{200, uint8(x * 3), uint8(y * 5), 255})
			}
		}
		fh, err := os.Create(filepath.Join(dir, fmt.Sprintf("f_%03d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(fh, img); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	var out bytes.Buffer
	if err := Run(&out, []string{dir}, Options{Runs: 1}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "workload encoder") {
		t.Fatalf("output:\n%s", out.String())
	}
	f := strings.Fields(lines[1])
	if len(f) != 15 || f[12] != "0" || f[0] != "square" || f[1] != "tandem_v2_lossless" || f[2] != "4" || f[9] != "inf" {
		t.Fatalf("row %q", lines[1])
	}
	if err := Run(&out, []string{t.TempDir()}, Options{}); err == nil {
		t.Fatal("empty directory accepted")
	}
}
