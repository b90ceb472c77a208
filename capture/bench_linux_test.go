package capture_test

import (
	"context"
	"image"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
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

// BenchmarkIdleLoop measures what an idle 1080p screen costs the host's
// screen loop, in CPU milliseconds (user+system, getrusage of the process)
// per second of idleness: "poll" grabs and encodes every 100 ms (the
// fallback, and the loop before DAMAGE), "damage" waits on X DAMAGE with
// the 2 s safety poll. One iteration is one second of idleness, and the
// b.N seconds are one wait, so the safety polls count: run it with
// -benchtime=Nx.
func BenchmarkIdleLoop(b *testing.B) {
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
	for _, mode := range []string{"poll", "damage"} {
		b.Run(mode, func(b *testing.B) {
			c, err := capture.Open(capture.Options{Display: s.Display})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			d := c.(capture.Damager)
			enc := codec.NewEncoder(codec.EncoderOptions{JPEGQuality: codec.DefaultJPEGQuality})
			defer enc.Close()
			r := c.Bounds()
			f, err := c.Grab(r, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := enc.Encode(f); err != nil {
				b.Fatal(err)
			}
			// Settle: take the damage of the xterm's start-up.
			for {
				rs, err := d.Damage(context.Background(), 300*time.Millisecond)
				if err != nil {
					b.Fatal(err)
				}
				if len(rs) == 1 && rs[0] == r {
					break
				}
			}
			grabs, frames := 0, 0
			start := cpuTime(b)
			b.ResetTimer()
			idle, icancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Second)
			defer icancel()
			for idle.Err() == nil {
				var rs []image.Rectangle
				if mode == "poll" {
					select {
					case <-idle.Done():
					case <-time.After(100 * time.Millisecond):
					}
					rs = []image.Rectangle{r}
				} else if rs, err = d.Damage(idle, 2*time.Second); err != nil {
					break // the time is over
				}
				if idle.Err() != nil {
					break
				}
				if f, _, err = capture.GrabDamaged(c, r, rs, f); err != nil {
					b.Fatal(err)
				}
				grabs++
				p, err := enc.Encode(f)
				if err != nil {
					b.Fatal(err)
				}
				if p != nil {
					frames++
				}
			}
			b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/s")
			b.ReportMetric(float64(grabs)/float64(b.N), "grabs/s")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/s")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
