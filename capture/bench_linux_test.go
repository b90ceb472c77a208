package capture_test

import (
	"context"
	"image"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/captest"
)

// BenchmarkGrab1080p grabs the whole 1920x1080 screen of an Xvfb showing an
// xterm, through MIT-SHM and through plain GetImage, into a reused frame.
func BenchmarkGrab1080p(b *testing.B) {
	s := captest.StartX(b, 1920, 1080)
	if _, err := s.Run(context.Background(), "xterm", "-geometry", "120x50+10+10", "-T", xtermTitle,
		"-e", "sh", "-c", "ls -la /usr/bin | head -60; exec sleep 600"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.WaitWindow(ctx, xtermTitle); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		noSHM bool
	}{{"shm", false}, {"plain", true}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := capture.Open(capture.Options{Display: s.Display, NoSHM: bc.noSHM})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if capture.UsingSHM(c) == bc.noSHM {
				b.Fatalf("UsingSHM = %v", !bc.noSHM)
			}
			r := image.Rect(0, 0, 1920, 1080)
			var f *capture.Frame
			b.SetBytes(1920 * 1080 * 4)
			for b.Loop() {
				if f, err = c.Grab(r, f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
		})
	}
}
