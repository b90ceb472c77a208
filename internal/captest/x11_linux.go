//go:build linux

package captest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/internal/xvfb"
)

// StartX starts a private Xvfb of w×h for tb and stops it at cleanup. Without
// Xvfb it skips, except under CI (CI set) where it fails.
func StartX(tb testing.TB, w, h int) *xvfb.Server {
	tb.Helper()
	s, err := xvfb.Start(w, h)
	if errors.Is(err, xvfb.ErrUnavailable) && os.Getenv("CI") == "" {
		tb.Skipf("skipping: %v", err)
	}
	if err != nil {
		tb.Fatalf("start Xvfb: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// GrabXWD runs `xwd -root -silent` on s and decodes its output.
func GrabXWD(ctx context.Context, s *xvfb.Server) (*XWD, error) {
	out, err := s.Command(ctx, "xwd", "-root", "-silent").Output()
	if err != nil {
		return nil, fmt.Errorf("xwd: %w", err)
	}
	return ParseXWD(out)
}

// StableGrab grabs the whole screen around an xwd dump until both grabs
// agree, so the returned dump shows the same screen as the returned frame.
func StableGrab(ctx context.Context, s *xvfb.Server, c capture.Capturer) (*capture.Frame, *XWD, error) {
	for {
		a, err := c.Grab(c.Bounds(), nil)
		if err != nil {
			return nil, nil, err
		}
		x, err := GrabXWD(ctx, s)
		if err != nil {
			return nil, nil, err
		}
		b, err := c.Grab(c.Bounds(), nil)
		if err != nil {
			return nil, nil, err
		}
		if bytes.Equal(a.Pix, b.Pix) {
			return a, x, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("the screen never stopped changing: %w", ctx.Err())
		}
	}
}

// Pointer is where the pointer is on s, as xdotool reads it.
func Pointer(tb testing.TB, s *xvfb.Server) image.Point {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := s.Command(ctx, "xdotool", "getmouselocation", "--shell").Output()
	if err != nil {
		tb.Fatalf("xdotool getmouselocation: %v", err)
	}
	var p image.Point
	var gotX, gotY bool
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
		case k == "X":
			p.X, gotX = n, true
		case k == "Y":
			p.Y, gotY = n, true
		}
	}
	if !gotX || !gotY {
		tb.Fatalf("xdotool getmouselocation said %q", out)
	}
	return p
}
