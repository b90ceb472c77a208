package captest

import (
	"bytes"
	"image/png"
	"os"
	"testing"
)

func TestTypistMatchesDesktop(t *testing.T) {
	ty := NewTypist(640, 480)
	for k := 1; k <= MaxTyped+3; k++ {
		ty.Next()
		want := Desktop(640, 480, 0, k%(MaxTyped+1))
		if !bytes.Equal(ty.Frame.Pix, want.Pix) {
			t.Fatalf("after %d characters the typist's frame differs from Desktop", k)
		}
	}
	if out := os.Getenv("CAPTEST_PNG"); out != "" {
		f, _ := os.Create(out)
		defer f.Close()
		_ = png.Encode(f, Desktop(1920, 1080, 3, 20).RGBA())
	}
}

func TestParseXWDRejects(t *testing.T) {
	if _, err := ParseXWD(make([]byte, 50)); err == nil {
		t.Fatal("short input parsed")
	}
	if _, err := ParseXWD(make([]byte, 200)); err == nil {
		t.Fatal("version 0 parsed")
	}
}
