package codec_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tandem-rc/tandem/capture/codec"
)

// zstdLastBlock is an empty raw block flagged last: appended to a stream
// the encoder never ends (no checksum is declared), it closes the zstd frame.
var zstdLastBlock = []byte{0x01, 0x00, 0x00}

// The browser's door: a payload's zstd parts, keyframe to the next
// keyframe, are one standard zstd frame (RFC 8878) that an independent
// decoder reads, and JPEG ops are baseline JPEGs that image/jpeg reads at
// their rectangle's size.
func TestStandardStreamAndJPEG(t *testing.T) {
	for _, predict := range []bool{false, true} {
		rnd := rand.New(rand.NewPCG(31, 32))
		w, h := 320, 256
		s := newScreen(w, h, 0)
		textScreen(rnd, s, image.Rect(0, 0, w, h))
		s.fill(rnd, image.Rect(0, 0, 100, 60), true) // raw tiles in the keyframe
		video := image.Rect(70, 100, 250, 240)
		enc := codec.NewEncoder(codec.EncoderOptions{TileSize: 32, JPEGQuality: 60, Predict: predict})
		defer enc.Close()
		var stream []byte
		raw, jpegs := 0, 0
		for step := range 8 {
			if step > 0 {
				photoFill(s, video, step)
				s.fill(rnd, image.Rect(260, 10+step*20, 300, 30+step*20), true)
			}
			p, err := enc.Encode(s.Frame)
			if err != nil {
				t.Fatal(err)
			}
			z, n, js, err := codec.PayloadParts(p)
			if err != nil {
				t.Fatal(err)
			}
			if step == 0 && !bytes.HasPrefix(z, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Fatalf("keyframe's zstd part does not start a zstd frame: % x", z[:min(8, len(z))])
			}
			stream, raw = append(stream, z...), raw+n
			for _, j := range js {
				jpegs++
				checkBaselineJPEG(t, j)
			}
		}
		if jpegs == 0 {
			t.Fatal("the changing photographic region sent no JPEG op")
		}
		stream = append(stream, zstdLastBlock...)
		// klauspost's one-shot decoder (not the streaming one the Decoder
		// uses) and, when installed, the reference zstd CLI.
		zd, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := zd.DecodeAll(stream, nil)
		zd.Close()
		if err != nil || len(got) != raw {
			t.Fatalf("predict=%v: DecodeAll: %d bytes (payloads declare %d), %v", predict, len(got), raw, err)
		}
		cli, err := exec.LookPath("zstd")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("zstd CLI not installed (scripts/deps.sh test)")
			}
			t.Log("zstd CLI not installed: checked with klauspost's decoder only")
			continue
		}
		cmd := exec.Command(cli, "-dc")
		cmd.Stdin = bytes.NewReader(stream)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("predict=%v: zstd -dc: %v", predict, err)
		}
		if !bytes.Equal(out, got) {
			t.Fatalf("predict=%v: the zstd CLI decoded %d bytes that differ from klauspost's %d", predict, len(out), len(got))
		}
	}
}

// checkBaselineJPEG walks the marker segments up to the scan: SOI, one
// frame header and it is SOF0 (baseline), and image/jpeg decodes the image.
func checkBaselineJPEG(t *testing.T, j []byte) {
	t.Helper()
	if !bytes.HasPrefix(j, []byte{0xff, 0xd8}) {
		t.Fatal("JPEG op does not start with SOI")
	}
	var sofs []byte
	for i := 2; ; {
		if i+4 > len(j) || j[i] != 0xff {
			t.Fatalf("JPEG op: bad marker segment at %d", i)
		}
		m := j[i+1]
		if m == 0xda { // SOS: the entropy-coded data follows
			break
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			sofs = append(sofs, m)
		}
		i += 2 + (int(j[i+2])<<8 | int(j[i+3]))
	}
	if len(sofs) != 1 || sofs[0] != 0xc0 {
		t.Fatalf("JPEG op frame markers % x, want one SOF0 (baseline)", sofs)
	}
	img, err := jpeg.Decode(bytes.NewReader(j))
	if err != nil || img.Bounds().Empty() {
		t.Fatalf("image/jpeg: %v", err)
	}
}
