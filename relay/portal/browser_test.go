package portal_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-rc/tandem/internal/relaytest"
)

// The browser tests drive Debian's chromium (scripts/deps.sh TEST) against
// a real relay on loopback. Without chromium they skip, except under
// CI=true where they fail.

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/deps.sh TEST)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser is one headless Chromium with a fresh profile, its window
// 1280×800, and a deadline for the whole test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the relay's URL
	shot string // screenshot directory
}

func newBrowser(t *testing.T, base string) *browser {
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	dir := os.Getenv("TANDEM_SCREENSHOTS")
	if dir == "" {
		dir = t.ArtifactDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: bctx, base: base, shot: dir}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname + ": " + document.body.innerText`))
		b.t.Fatalf("%v; the page is %s", err, page)
	}
}

func (b *browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

// path is the page's path and query.
func (b *browser) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname + ": " + document.body.innerText`))
		b.t.Fatalf("text of %s: %v; the page is %s", sel, err, page)
	}
	return s
}

// texts is the text of every element sel matches (none: nil), at once.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+jsString(sel)+`), e => e.textContent.trim())`))
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func (b *browser) count(sel string) int { return len(b.texts(sel)) }

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// fill types into a field (cleared first).
func (b *browser) fill(sel, v string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(document.querySelector(`+jsString(sel)+`).value = '') === ''`)); err != nil {
		b.t.Fatal(err)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(sel), v))
}

// click clicks and, when it navigates, waits for the next page.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// submit clicks a button that sends a form and waits for the answer page.
func (b *browser) submit(sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.tandemOldPage = true`)); err != nil {
		b.t.Fatal(err)
	}
	b.click(sel)
	b.waitJS(`!window.tandemOldPage && document.readyState === 'complete'`)
}

func (b *browser) waitJS(expr string) {
	b.t.Helper()
	// Evaluate until true: a navigation in between destroys the page's
	// context, which is an error to retry, not a failure.
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		last = err
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("waiting for %s: %v", expr, b.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatalf("waiting for %s: %v", expr, last)
}

// screenshot saves the page as NAME.png in the screenshot directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
}

func (b *browser) cookies() []*network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Cookies
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode is the MFA code of the newest mail to `to`.
func lastCode(t *testing.T, outbox, to string) string {
	t.Helper()
	mails := relaytest.MailTo(t, outbox, to)
	if len(mails) == 0 {
		t.Fatalf("no mail to %s", to)
	}
	m := sixDigits.FindStringSubmatch(mails[len(mails)-1])
	if m == nil {
		t.Fatalf("no code in %q", mails[len(mails)-1])
	}
	return m[1]
}

var linkRE = regexp.MustCompile(`https?://\S+/(invite|reset)#token=\S+`)

// waitLink waits (bounded) for a mail to `to` after the first `skip` ones
// that holds a link to path ("/invite" or "/reset"): some mails go out
// after the answer (a password reset answers 202 at once).
func waitLink(t *testing.T, outbox, to, path string, skip int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mails := relaytest.MailTo(t, outbox, to)
		for _, m := range mails[min(skip, len(mails)):] {
			if l := linkRE.FindString(m); strings.Contains(l, path+"#") {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with a %s link after %d mails: %q", to, path, skip, mails)
		}
		time.Sleep(20 * time.Millisecond) // polling the outbox directory
	}
}
