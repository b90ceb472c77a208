package logo

import (
	"bytes"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hostile SVGs: each must come out with none of the forbidden strings, or
// be refused.
var hostile = []struct {
	name, svg string
	refused   bool
}{
	{"script", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><script>alert(1)</script><rect width="40" height="10"/></svg>`, false},
	{"prefixed script", `<s:svg xmlns:s="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><s:script>alert(1)</s:script></s:svg>`, false},
	{"script cdata", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><script><![CDATA[alert(1)]]></script></svg>`, false},
	{"onload", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10" onload="alert(1)"><rect onclick="alert(1)" OnMouseOver="alert(1)" width="4" height="1"/></svg>`, false},
	{"javascript href", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 40 10"><a xlink:href="javascript:alert(1)"><rect width="4" height="1"/></a><use href="javascript:alert(1)"/><use xlink:href=" JaVaScRiPt:alert(1)"/></svg>`, false},
	{"external use", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><use href="https://evil.example/x.svg#a"/><use href="data:image/svg+xml,&lt;svg onload=alert(1)&gt;"/></svg>`, false},
	{"foreignObject", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><foreignObject width="40" height="10"><body xmlns="http://www.w3.org/1999/xhtml"><iframe src="javascript:alert(1)"></iframe><img src="x" onerror="alert(1)"/></body></foreignObject></svg>`, false},
	{"image", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><image href="https://evil.example/track.png" width="4" height="1"/></svg>`, false},
	{"animate href", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><a><animate attributeName="href" to="javascript:alert(1)"/><set attributeName="onclick" to="alert(1)"/></a></svg>`, false},
	{"style", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><style>@import url(https://evil.example/x.css); rect{background:url(javascript:alert(1))}</style><rect style="fill:url(https://evil.example/)" width="4" height="1"/></svg>`, false},
	{"fill url outside", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect fill="url(https://evil.example/#g)" mask="url(javascript:alert(1))" clip-path="url(#a) url(x)" width="4" height="1"/></svg>`, false},
	{"xhtml script", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><h:script xmlns:h="http://www.w3.org/1999/xhtml">alert(1)</h:script></svg>`, false},
	{"xxe", `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><text>&xxe;</text></svg>`, true},
	{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><text>&lol3;</text></svg>`, true},
	{"entity without dtd", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><text>&lol;</text></svg>`, true},
	{"processing instruction", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><?xml-stylesheet href="https://evil.example/x.css"?></svg>`, true},
	{"html root", `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`, true},
	{"svg root without namespace", `<svg viewBox="0 0 40 10" onload="alert(1)"/>`, true},
	{"two roots", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"/><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10" onload="alert(1)"/>`, true},
	{"utf-16", "\xff\xfe<\x00s\x00v\x00g\x00", true},
	{"other charset", `<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"/>`, true},
	{"deep", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10">` + strings.Repeat("<g>", 100) + strings.Repeat("</g>", 100) + `</svg>`, true},
	{"unclosed", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><script>`, true},
	{"text escaping", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><text>&lt;script&gt;alert(1)&lt;/script&gt;</text><title>]]&gt;&lt;script&gt;</title></svg>`, false},
	{"attr escaping", `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect id="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" width="4" height="1"/></svg>`, false},
}

var forbidden = []string{"<script", "script>", "javascript", "onload", "onclick", "onmouseover", "onerror", "foreignobject",
	"iframe", "<a", "<image", "<style", "<animate", "<set", "evil.example", "data:", "@import", "xhtml", "<h:", "<body", "<img"}

func TestSanitizeSVGHostile(t *testing.T) {
	for _, c := range hostile {
		t.Run(c.name, func(t *testing.T) {
			clean, _, _, err := SanitizeSVG([]byte(c.svg))
			if c.refused {
				if err == nil || !errors.Is(err, ErrRefused) {
					t.Fatalf("accepted: %q (err %v)", clean, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			l := strings.ToLower(string(clean))
			for _, f := range forbidden {
				if strings.Contains(l, f) {
					t.Errorf("%q survived: %s", f, clean)
				}
			}
			// The output is itself a well-formed SVG that sanitises to itself.
			again, _, _, err := SanitizeSVG(clean)
			if err != nil || !bytes.Equal(again, clean) {
				t.Fatalf("not a fixed point: %v\n%s\n%s", err, clean, again)
			}
		})
	}
}

func TestSanitizeSVGKeepsDrawing(t *testing.T) {
	in := `<?xml version="1.0" encoding="UTF-8"?>
<!-- made by hand -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="400" height="100" viewBox="0 0 400 100">
  <defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#123"/><stop offset="1" stop-color="#abc"/></linearGradient></defs>
  <rect width="400" height="100" rx="8" fill="url(#g)"/>
  <path id="p" d="M10 10 L390 90" stroke="#fff" stroke-width="4"/>
  <use xlink:href="#p" transform="translate(0 5)"/>
  <text x="20" y="60" font-family="sans-serif" font-size="40">Acme &amp; Co</text>
</svg>`
	clean, w, h, err := SanitizeSVG([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if w != 400 || h != 100 {
		t.Fatalf("size %v×%v", w, h)
	}
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100" viewBox="0 0 400 100">`,
		`fill="url(#g)"`, `<stop offset="0" stop-color="#123"></stop>`, `<use href="#p" transform="translate(0 5)"></use>`,
		`Acme &amp; Co</text>`, `d="M10 10 L390 90"`} {
		if !strings.Contains(string(clean), want) {
			t.Errorf("lost %s in %s", want, clean)
		}
	}
}

func TestCheck(t *testing.T) {
	rectSVG := []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 100"><rect width="400" height="100"/></svg>`)
	var jpg bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	img.Set(1, 1, color.White)
	if err := jpeg.Encode(&jpg, img, nil); err != nil {
		t.Fatal(err)
	}
	bomb := pngOf(t, 64, 16)
	// Claim a 100000×25000 canvas in the IHDR (its CRC is not checked
	// before DecodeConfig answers): refused before any pixel is decoded.
	copy(bomb[16:24], []byte{0, 1, 0x86, 0xa0, 0, 0, 0x61, 0xa8})
	for _, c := range []struct {
		name  string
		shape Shape
		data  []byte
		ct    string // "" refused
	}{
		{"png 4:1", Rect, pngOf(t, 400, 100), PNG},
		{"png 1:1", Square, pngOf(t, 256, 256), PNG},
		{"png near 4:1", Rect, pngOf(t, 420, 100), PNG},
		{"png 3:1 as rect", Rect, pngOf(t, 300, 100), ""},
		{"png 4:1 as square", Square, pngOf(t, 400, 100), ""},
		{"png tiny", Square, pngOf(t, 8, 8), ""},
		{"png too large canvas", Rect, bomb, ""},
		{"jpeg 1:1", Square, jpg.Bytes(), JPEG},
		{"svg 4:1", Rect, rectSVG, SVG},
		{"svg 4:1 as square", Square, rectSVG, ""},
		{"svg no size", Square, []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), ""},
		{"empty", Rect, nil, ""},
		{"over 0.3 MB", Rect, append(pngOf(t, 400, 100), make([]byte, MaxSize)...), ""},
		{"gif", Square, []byte("GIF89a\x01\x00\x01\x00"), ""},
		{"html", Square, []byte("<html><script>alert(1)</script></html>"), ""},
		{"truncated png", Rect, pngOf(t, 400, 100)[:60], ""},
		{"bad shape", "circle", pngOf(t, 256, 256), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct, clean, err := Check(c.shape, c.data)
			if c.ct == "" {
				if err == nil || !errors.Is(err, ErrRefused) {
					t.Fatalf("accepted as %s (err %v)", ct, err)
				}
				return
			}
			if err != nil || ct != c.ct || len(clean) == 0 {
				t.Fatalf("got %q, %d bytes, %v", ct, len(clean), err)
			}
		})
	}
}

// TestCheckStripsPNGChunks: a PNG with a text chunk holding HTML comes
// back as pixels only.
func TestCheckStripsPNGChunks(t *testing.T) {
	p := pngOf(t, 256, 256)
	chunk := []byte("tEXtComment\x00<script>alert(1)</script>")
	var withText bytes.Buffer
	withText.Write(p[:33]) // signature + IHDR
	n := len(chunk) - 4
	withText.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	withText.Write(chunk)
	withText.Write(crc(chunk))
	withText.Write(p[33:])
	ct, clean, err := Check(Square, withText.Bytes())
	if err != nil || ct != PNG {
		t.Fatalf("%s %v", ct, err)
	}
	if bytes.Contains(clean, []byte("script")) {
		t.Fatal("the text chunk survived")
	}
}

func crc(b []byte) []byte {
	c := crc32.ChecksumIEEE(b)
	return []byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
}
