package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/internal/setupname"
)

// publish writes fake build outputs (their bytes are their names) into a
// downloads directory, older first.
func publish(t *testing.T, dir string, names ...string) {
	t.Helper()
	base := time.Now().Add(-time.Hour)
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

func withDownloads(dir string) func(*Config) { return func(c *Config) { c.Downloads = dir } }

const (
	uaWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	uaMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	uaLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaAndroid = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)

// get fetches path with a User-Agent and returns the response and body.
func (e *env) get(path, ua string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestDownloadPage(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir,
		"tandem-host-1.0.0-x64.exe", "tandem-host-1.1.0-x64.exe", "tandem-host-1.1.0-x64.msi",
		"tandem-host_1.1.0-1_amd64.deb", "tandem-host-1.1.0-1.x86_64.rpm", "tandem-relay_1.1.0-1_amd64.deb",
		"tandem-host-1.1.0-universal.pkg", "README.txt")
	e := newEnv(t, withDownloads(dir))
	_, key := e.pkg(PackageSpec{Name: "Front <desk>", Pending: true})

	// First the warning and the "I understand" step, no download links yet.
	resp, body := e.get("/d/"+key, uaWindows)
	if resp.StatusCode != 200 || !strings.Contains(body, "I understand") || strings.Contains(body, "tandem-host-setup.exe") {
		t.Fatalf("first visit: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "Front &lt;desk&gt;") || !strings.Contains(body, "Acme") || !strings.Contains(body, "approves") {
		t.Fatalf("the page does not say which package and account (escaped) or that approval is needed:\n%s", body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}

	// Then the visitor's platform first, the others offered.
	first := func(body string, links ...string) string {
		best, at := "", len(body)
		for _, l := range links {
			if i := strings.Index(body, l); i >= 0 && i < at {
				best, at = l, i
			}
		}
		return best
	}
	all := []string{"/tandem-host-setup.exe", "/tandem-host-setup.pkg", "/install.sh"}
	for _, c := range []struct{ ua, want string }{{uaWindows, all[0]}, {uaMac, all[1]}, {uaLinux, all[2]}} {
		resp, body := e.get("/d/"+key+"?understood=1", c.ua)
		if resp.StatusCode != 200 {
			t.Fatalf("%d\n%s", resp.StatusCode, body)
		}
		if got := first(body, all...); got != c.want {
			t.Errorf("UA %q: first offer %q, want %q", c.ua, got, c.want)
		}
		for _, l := range all {
			if !strings.Contains(body, l) {
				t.Errorf("UA %q: %s not offered", c.ua, l)
			}
		}
		for _, want := range []string{"tandem-host-1.1.0-x64.msi", "RELAYURL=" + e.ts.URL, "ENROLLMENTKEY=" + key, "tandem-host_1.1.0-1_amd64.deb", "tandem-host-1.1.0-1.x86_64.rpm"} {
			if !strings.Contains(body, want) {
				t.Errorf("UA %q: page lacks %q", c.ua, want)
			}
		}
	}
	// Unknown platforms (phones, curl) get every choice without a favourite.
	_, body = e.get("/d/"+key+"?understood=1", uaAndroid)
	if !strings.Contains(body, "Choose your platform") {
		t.Errorf("android: no choice offered:\n%s", body)
	}
	// Keys are accepted as people retype them.
	if resp, _ := e.get("/d/"+strings.ToLower(strings.ReplaceAll(key, "-", "")), uaLinux); resp.StatusCode != 200 {
		t.Errorf("normalized key: %d", resp.StatusCode)
	}
}

func TestDownloadInstallers(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir, "tandem-host-1.0.0-x64.exe", "tandem-host-1.1.0-x64.exe", "tandem-host-1.1.0-x64.msi",
		"tandem-host_1.1.0-1_amd64.deb", "tandem-host_1.1.0-1_arm64.deb", "tandem-host-1.1.0-1.x86_64.rpm",
		"tandem-host-1.1.0-universal.pkg")
	e := newEnv(t, withDownloads(dir))
	p, key := e.pkg(PackageSpec{Name: "P"})

	fetch := func(path string) (*http.Response, string, string) {
		t.Helper()
		resp, body := e.get("/d/"+key+path, "")
		_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		return resp, body, params["filename"]
	}
	// The online installers: the newest build, named for this relay and key.
	for _, c := range []struct{ path, content, ext string }{
		{"/tandem-host-setup.exe", "tandem-host-1.1.0-x64.exe", "exe"},
		{"/tandem-host-setup.pkg?arch=arm64", "tandem-host-1.1.0-universal.pkg", "pkg"},
	} {
		resp, body, name := fetch(c.path)
		if resp.StatusCode != 200 || body != c.content {
			t.Fatalf("%s: %d %q", c.path, resp.StatusCode, body)
		}
		relay, k, ok := setupname.Parse(name)
		if !ok || relay != e.ts.URL || k != key || !strings.HasSuffix(name, "."+c.ext) {
			t.Fatalf("%s: file name %q carries %q, %q, %v", c.path, name, relay, k, ok)
		}
	}
	// Plain packages keep their names; arch picks the build.
	for path, want := range map[string]string{
		"/tandem-host.msi":             "tandem-host-1.1.0-x64.msi",
		"/tandem-host.deb":             "tandem-host_1.1.0-1_amd64.deb",
		"/tandem-host.deb?arch=x86_64": "tandem-host_1.1.0-1_amd64.deb",
		"/tandem-host.deb?arch=arm64":  "tandem-host_1.1.0-1_arm64.deb",
		"/tandem-host.rpm":             "tandem-host-1.1.0-1.x86_64.rpm",
	} {
		resp, body, name := fetch(path)
		if resp.StatusCode != 200 || body != want || name != want {
			t.Errorf("%s: %d %q named %q, want %q", path, resp.StatusCode, body, name, want)
		}
	}
	// Missing builds, unknown architectures and unknown files are clear 4xx.
	for path, code := range map[string]int{
		"/tandem-host.rpm?arch=arm64": 404, "/tandem-host.deb?arch=sparc": 400,
		"/tandem-host-1.1.0-x64.exe": 404, "/..%2f..%2fetc%2fpasswd": 404, "/README.txt": 404,
	} {
		resp, body, _ := fetch(path)
		if resp.StatusCode != code || !strings.Contains(body, `"code"`) {
			t.Errorf("%s: %d %s, want %d with an API error", path, resp.StatusCode, body, code)
		}
	}

	// enroll.conf and install.sh carry the relay and key, quoted for sh.
	_, conf, _ := fetch("/enroll.conf")
	if !strings.Contains(conf, "\nRELAY_URL="+e.ts.URL+"\n") || !strings.Contains(conf, "\nENROLLMENT_KEY="+key+"\n") {
		t.Errorf("enroll.conf:\n%s", conf)
	}
	resp, script, name := fetch("/install.sh")
	if resp.StatusCode != 200 || name != "tandem-host-install.sh" || !strings.HasPrefix(script, "#!/bin/sh\n") {
		t.Fatalf("install.sh: %d %q\n%s", resp.StatusCode, name, script)
	}
	for _, want := range []string{"RELAY_URL='" + e.ts.URL + "'", "ENROLLMENT_KEY='" + key + "'", "/etc/tandem/enroll.conf"} {
		if !strings.Contains(script, want) {
			t.Errorf("install.sh lacks %q", want)
		}
	}
	if strings.Contains(script, "&#39;") || strings.Contains(script, "&lt;") {
		t.Errorf("install.sh is HTML-escaped:\n%s", script)
	}

	// Each download is audited with its package; the key never is.
	evs := e.audit(EvDownload)
	if len(evs) < 8 {
		t.Fatalf("%d download events", len(evs))
	}
	for _, ev := range evs {
		if ev.AccountID != p.AccountID || !strings.Contains(string(ev.Detail), p.ID) || strings.Contains(string(ev.Detail), key) {
			t.Fatalf("audit event %+v", ev)
		}
	}
}

func TestDownloadRefusals(t *testing.T) {
	dir := t.TempDir()
	publish(t, dir, "tandem-host-1.1.0-x64.exe")
	var logs bytes.Buffer
	e := newEnv(t, withDownloads(dir), func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Limits.EnrollBurst = 3
	})
	ctx := context.Background()
	p, key := e.pkg(PackageSpec{Name: "Off"})
	if err := e.srv.Store().SetPackageActive(ctx, p.ID, false); err != nil {
		t.Fatal(err)
	}
	_, expired := e.pkg(PackageSpec{Name: "Old", ValidTo: e.clock.Now().Add(time.Hour)})
	_, full := e.pkg(PackageSpec{Name: "Full", MaxDevices: 1})
	e.enroll(full, "only-one")
	e.clock.Advance(2 * time.Hour)

	for _, c := range []struct{ key, want string }{
		{key, "disabled"}, {expired, "expired"}, {full, "already has its 1 devices"},
	} {
		for _, path := range []string{"/d/" + c.key, "/d/" + c.key + "/tandem-host-setup.exe", "/d/" + c.key + "/install.sh"} {
			resp, body := e.get(path, uaWindows)
			if resp.StatusCode != http.StatusGone || !strings.Contains(body, c.want) || strings.Contains(body, "tandem-host-1.1.0") {
				t.Errorf("%s: %d\n%s", path, resp.StatusCode, body)
			}
		}
	}
	if n := len(e.audit(EvDownload)); n != 0 {
		t.Errorf("%d downloads audited from refused links", n)
	}

	// Unknown keys: a clear page, and guessing is throttled like enrollment.
	bogus := strings.Repeat("ABCD-", 7) + "ABCD"
	for i, path := range []string{"/d/" + bogus, "/d/not-a-key", "/d/" + bogus + "/install.sh"} {
		resp, body := e.get(path, uaLinux)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not valid") {
			t.Fatalf("attempt %d %s: %d\n%s", i, path, resp.StatusCode, body)
		}
	}
	resp, _ := e.get("/d/"+bogus, uaLinux)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 bad links: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(e.audit(EvDownloadFailed)); n != 3 {
		t.Errorf("%d failed downloads audited, want 3", n)
	}
	if strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), "/d/<key>") {
		t.Errorf("the log shows an enrollment key or no redacted path:\n%s", logs.String())
	}
}

func TestDownloadNothingPublished(t *testing.T) {
	e := newEnv(t) // no downloads directory
	_, key := e.pkg(PackageSpec{Name: "P"})
	resp, body := e.get("/d/"+key+"?understood=1", uaWindows)
	if resp.StatusCode != 200 || !strings.Contains(body, "No Windows installer is published") || !strings.Contains(body, "No Linux packages") {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	resp, body = e.get("/d/"+key+"/tandem-host-setup.exe", uaWindows)
	if resp.StatusCode != 404 || !strings.Contains(body, "does not publish") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestPlatformOf(t *testing.T) {
	for ua, want := range map[string]string{uaWindows: "windows", uaMac: "macos", uaLinux: "linux", uaAndroid: "", "curl/8.5.0": "",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148": ""} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("User-Agent", ua)
		if got := platformOf(r); got != want {
			t.Errorf("%q: %q, want %q", ua, got, want)
		}
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Sec-CH-UA-Platform", `"Windows"`)
	if platformOf(r) != "windows" {
		t.Error("client hint ignored")
	}
}
