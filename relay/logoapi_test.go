package relay

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/tandem-rc/tandem/relay/manage"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestLogoAPI: the owner uploads, members read (with a CSP that forbids
// scripts and nosniff), administrators may not change it, strangers see
// nothing; refused uploads (wrong ratio, too large, not an image, a
// hostile SVG's scripts) change nothing or are cleaned; removal.
func TestLogoAPI(t *testing.T) {
	o := newODEnv(t)
	e, owner := o.env, o.tok
	_, member := e.memberOf("tech@example.com", store.Member, "Acme")
	_, admin := e.memberOf("admin@example.com", store.Admin, "Acme")
	_, stranger := e.memberOf("other@example.com", store.Owner, "Other Co")
	const base = "/api/v1/accounts/Acme/logos"

	for tok, want := range map[string]int{"": 401, member: 403, admin: 403, stranger: 404} {
		if st, body, _ := e.rawDo("PUT", base+"/rect", tok, "image/png", testPNG(t, 400, 100)); st != want {
			t.Errorf("PUT as %q: %d %s, want %d", tok, st, body, want)
		}
	}
	st, body, _ := e.rawDo("PUT", base+"/rect", owner, "image/png", testPNG(t, 400, 100))
	if st != 200 {
		t.Fatalf("owner PUT: %d %s", st, body)
	}
	var info wire.LogoInfo
	if err := json.Unmarshal(body, &info); err != nil || info.Shape != "rect" || info.ContentType != "image/png" || info.Version == "" {
		t.Fatalf("answer %s (%v)", body, err)
	}
	if len(e.audit(manage.EvLogoChanged)) != 1 {
		t.Fatal("the upload is not audited")
	}
	// Refusals change nothing.
	for _, c := range []struct {
		name, path string
		body       []byte
		status     int
		msg        string
	}{
		{"3:1 as rect", "/rect", testPNG(t, 300, 100), 400, "4 times as wide"},
		{"4:1 as square", "/square", testPNG(t, 400, 100), 400, "as wide as it is high"},
		{"too large", "/rect", append(testPNG(t, 400, 100), make([]byte, 400<<10)...), 413, "0.3 MB"},
		{"html", "/square", []byte(`<html><body onload="alert(1)"></body></html>`), 400, "not a JPG, PNG or SVG"},
		{"xxe", "/square", []byte(`<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1">&x;</svg>`), 400, "DOCTYPE"},
		{"no such shape", "/circle", testPNG(t, 100, 100), 404, "rect or square"},
	} {
		st, body, _ := e.rawDo("PUT", base+c.path, owner, "image/png", c.body)
		if st != c.status || !strings.Contains(string(body), c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, st, body, c.status, c.msg)
		}
	}
	var infos []wire.LogoInfo
	if st, body := e.do("GET", base, member, nil); st != 200 || json.Unmarshal(body, &infos) != nil || len(infos) != 1 || infos[0] != info {
		t.Fatalf("after refusals: %d %s", st, body)
	}
	if len(e.audit(manage.EvLogoChanged)) != 1 {
		t.Fatal("a refused upload is audited as a change")
	}

	// A member reads it, as an image that can't run anything.
	st, img, h := e.rawDo("GET", base+"/rect", member, "", nil)
	if st != 200 || h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(h.Get("Content-Security-Policy"), "default-src 'none'; style-src 'unsafe-inline'") {
		t.Fatalf("GET: %d %v", st, h)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := e.rawDo("GET", base+"/rect", stranger, "", nil); st != 404 {
		t.Fatalf("a stranger reads the logo: %d", st)
	}

	// The install and OnDemand pages strangers open show it inline.
	_, key := e.pkg(PackageSpec{Account: "Acme", Name: "P"})
	od := o.create(owner)
	for _, page := range []string{"/d/" + key, "/s/" + od.Key} {
		st, html, h := e.rawDo("GET", page, "", "", nil)
		if st != 200 || !strings.Contains(string(html), `<img class="logo" src="data:image/png;base64,`) ||
			h.Get("Content-Security-Policy") != logoPageCSP {
			t.Fatalf("%s: %d %v %s", page, st, h, html)
		}
	}

	// A hostile SVG is stored without its scripts.
	evil := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" onload="alert(1)"><script>alert(2)</script><rect width="10" height="10"/></svg>`
	if st, body, _ := e.rawDo("PUT", base+"/square", owner, "image/svg+xml", []byte(evil)); st != 200 {
		t.Fatalf("svg: %d %s", st, body)
	}
	st, svg, h := e.rawDo("GET", base+"/square", member, "", nil)
	if st != 200 || h.Get("Content-Type") != "image/svg+xml" || strings.Contains(string(svg), "alert") || !strings.Contains(string(svg), "<rect") {
		t.Fatalf("svg GET: %d %s %v", st, svg, h)
	}

	if st, _ := e.do("DELETE", base+"/square", admin, nil); st != 403 {
		t.Fatalf("an administrator removed the logo: %d", st)
	}
	if st, _ := e.do("DELETE", base+"/square", owner, nil); st != 204 {
		t.Fatalf("DELETE: %d", st)
	}
	if st, _, _ := e.rawDo("GET", base+"/square", member, "", nil); st != 404 {
		t.Fatalf("a removed logo: %d", st)
	}
	if len(e.audit(manage.EvLogoRemoved)) != 1 {
		t.Fatal("the removal is not audited")
	}
}
