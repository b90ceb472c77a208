package agent

import (
	"image"
	"math/rand/v2"
	"testing"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/policy"
)

func TestMatchApp(t *testing.T) {
	env := map[string]string{"windir": `C:\Windows`, "HOME": "/home/ann", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	apps := []policy.GrantApp{
		{Executable: "xterm"},
		{Executable: "notepad.exe", Path: `%windir%\system32`},
		{Executable: "tool", Path: "$HOME/bin/"},
		{Executable: "braced", Path: "${HOME}/opt"},
		{Executable: "unset", Path: "%NOPE%/bin"},
		{Executable: "unset2", Path: "$NOPE/bin"},
	}
	cases := map[string]bool{
		"/usr/bin/xterm":                     true,
		"/opt/XTerm":                         true, // names are case-insensitive
		"/usr/bin/xterm2":                    false,
		"/usr/bin/uxterm-xterm":              false,
		`C:\Windows\System32\NOTEPAD.EXE`:    samePath("system32", "System32"),
		`C:\Windows\system32\notepad.exe`:    true,
		`C:\Users\ann\notepad.exe`:           false,
		"/home/ann/bin/tool":                 true,
		"/home/ann/bin/sub/tool":             false,
		"/home/bob/bin/tool":                 false,
		"/home/ann/opt/braced":               true,
		"/%NOPE%/bin/unset":                  false, // unset variables never match, even literally
		"%NOPE%/bin/unset":                   false,
		"${NOPE}/bin/unset2":                 false,
		"":                                   false,
		"/usr/bin/xterm (deleted)":           false,
		"/home/ann/bin/tool/../../bin/xterm": true,
	}
	for exe, want := range cases {
		if got := matchApp(apps, exe, getenv); got != want {
			t.Errorf("matchApp(%q) = %v, want %v", exe, got, want)
		}
	}
	if matchApp(nil, "/usr/bin/xterm", getenv) {
		t.Error("an empty list allowed something")
	}
}

func TestExpandEnv(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"A": "x", "B": "y"}[k] }
	for in, want := range map[string]string{
		"%A%/%B%": "x/y", "$A/${B}": "x/y", "%A": "%A", "100%": "100%", "%%": "%%", "%C%/x": "%C%/x", "$C": "${C}", "a%A%b%B%c": "axbyc",
	} {
		if got := expandEnv(in, getenv); got != want {
			t.Errorf("expandEnv(%q) = %q, want %q", in, got, want)
		}
	}
}

// The region arithmetic against a per-pixel painter's algorithm on random
// stacks of windows.
func TestVisibleRegion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const W, H = 64, 48
	for iter := range 500 {
		n := rng.IntN(7)
		wins := make([]TopWindow, n)
		ok := make([]bool, n)
		for i := range wins {
			x, y := rng.IntN(W+10)-5, rng.IntN(H+10)-5
			wins[i] = TopWindow{ID: uint64(i + 1), Rect: image.Rect(x, y, x+rng.IntN(40), y+rng.IntN(30))}
			ok[i] = rng.IntN(2) == 0
		}
		reg := visibleRegion(wins, ok)
		for i, r := range reg { // disjoint
			for _, s := range reg[i+1:] {
				if r.Overlaps(s) {
					t.Fatalf("iter %d: region not disjoint: %v %v", iter, r, s)
				}
			}
		}
		f := &capture.Frame{Width: W, Height: H, Stride: W*4 + 8, Pix: make([]byte, (W*4+8)*H)}
		for i := range f.Pix {
			f.Pix[i] = 0xff
		}
		origin := image.Pt(rng.IntN(5)-2, rng.IntN(5)-2)
		maskOutside(f, origin, reg)
		for y := range H {
			for x := range W {
				p := image.Pt(x, y).Add(origin)
				want := false // painter's algorithm: the topmost window decides
				for i := n - 1; i >= 0; i-- {
					if p.In(wins[i].Rect) {
						want = ok[i]
						break
					}
				}
				if got := regionContains(reg, p); got != want {
					t.Fatalf("iter %d: %v allowed=%v, want %v (wins %v ok %v)", iter, p, got, want, wins, ok)
				}
				px := f.Pix[y*f.Stride+x*4 : y*f.Stride+x*4+4]
				if kept := px[0] == 0xff; kept != want || (!want && (px[0]|px[1]|px[2]|px[3]) != 0) {
					t.Fatalf("iter %d: pixel %v kept=%v, want %v", iter, p, kept, want)
				}
			}
			// The stride padding is not the frame's: untouched.
			if pad := f.Pix[y*f.Stride+W*4]; pad != 0xff {
				t.Fatalf("row %d padding overwritten", y)
			}
		}
	}
}

func BenchmarkMaskOutside(b *testing.B) {
	f := &capture.Frame{Width: 1920, Height: 1080, Stride: 1920 * 4, Pix: make([]byte, 1920*1080*4)}
	reg := visibleRegion([]TopWindow{{Rect: image.Rect(100, 100, 1100, 800)}, {Rect: image.Rect(600, 300, 900, 1000)}},
		[]bool{true, false})
	b.SetBytes(int64(len(f.Pix)))
	for b.Loop() {
		maskOutside(f, image.Point{}, reg)
	}
}
