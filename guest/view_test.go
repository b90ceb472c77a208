package guest

import (
	"image"
	"testing"

	"github.com/tandem-rc/tandem/capture"
	"github.com/tandem-rc/tandem/capture/codec"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestWatchDeliversUntilStopped(t *testing.T) {
	s := &Session{}
	var frames []uint32
	var clips []string
	var refusals []*wire.Error
	stop := s.Watch(Watcher{
		Frame:     func(ev FrameEvent) { frames = append(frames, ev.Seq) },
		Clipboard: func(text string) { clips = append(clips, text) },
		Refused:   func(e *wire.Error) { refusals = append(refusals, e) },
	})
	stopOther := s.Watch(Watcher{}) // nil callbacks are skipped
	s.notifyFrame(FrameEvent{Seq: 7})
	s.notifyClipboard("copied")
	s.notifyRefused(&wire.Error{Code: wire.ErrCodeDenied, Ref: wire.TypeKey, Message: "no"})
	stop()
	stopOther()
	s.notifyFrame(FrameEvent{Seq: 8})
	s.notifyClipboard("later")
	if len(frames) != 1 || frames[0] != 7 || len(clips) != 1 || clips[0] != "copied" || len(refusals) != 1 {
		t.Fatalf("frames %v, clipboard %v, refusals %v", frames, clips, refusals)
	}
}

func TestCopyScreen(t *testing.T) {
	s := &Session{dec: codec.NewDecoder(codec.Limits{})}
	if _, _, ok := s.CopyScreen(nil); ok {
		t.Fatal("a screen before any keyframe")
	}
	f := &capture.Frame{Width: 64, Height: 32, Stride: 64 * 4, Pix: make([]byte, 64*32*4)}
	for i := 0; i < len(f.Pix); i += 4 {
		f.Pix[i], f.Pix[i+1], f.Pix[i+2] = 0x30, 0x20, 0x10 // BGRX
	}
	enc := codec.NewEncoder(codec.EncoderOptions{})
	defer enc.Close()
	payload, err := enc.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.dec.Decode(payload); err != nil {
		t.Fatal(err)
	}
	s.keyframe, s.origin = true, image.Pt(1920, 0)
	img, origin, ok := s.CopyScreen(nil)
	if !ok || origin != image.Pt(1920, 0) || img.Bounds() != image.Rect(0, 0, 64, 32) {
		t.Fatalf("copy %v at %v (%v)", img.Bounds(), origin, ok)
	}
	if p := img.RGBAAt(5, 5); p.R != 0x10 || p.G != 0x20 || p.B != 0x30 {
		t.Fatalf("pixel %v", p)
	}
	// The same buffer comes back when the size matches, and it is a copy.
	again, _, _ := s.CopyScreen(img)
	if again != img {
		t.Fatal("a matching buffer was not reused")
	}
	s.dec.Image().Pix[0] = 0xff
	if img.Pix[0] == 0xff {
		t.Fatal("CopyScreen returned the decoder's own pixels")
	}
	// A buffer of another size is replaced.
	if other, _, _ := s.CopyScreen(image.NewRGBA(image.Rect(0, 0, 8, 8))); other.Bounds() != img.Bounds() {
		t.Fatalf("buffer of %v kept", other.Bounds())
	}
}

// BenchmarkCopyScreen1080p is a viewer's per-frame cost of taking the
// decoded screen (go test -bench CopyScreen ./guest).
func BenchmarkCopyScreen1080p(b *testing.B) {
	s := &Session{dec: codec.NewDecoder(codec.Limits{})}
	f := &capture.Frame{Width: 1920, Height: 1080, Stride: 1920 * 4, Pix: make([]byte, 1920*1080*4)}
	enc := codec.NewEncoder(codec.EncoderOptions{})
	defer enc.Close()
	payload, err := enc.Encode(f)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.dec.Decode(payload); err != nil {
		b.Fatal(err)
	}
	s.keyframe = true
	buf, _, _ := s.CopyScreen(nil)
	b.SetBytes(int64(len(buf.Pix)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _, _ = s.CopyScreen(buf)
	}
}
