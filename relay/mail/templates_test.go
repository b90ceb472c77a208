package mail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var expires = time.Date(2026, 3, 21, 15, 9, 0, 0, time.FixedZone("CET", 3600))

const evil = `Mallory <script>alert("x")</script> & "co"`

// each template constructor, called with a hostile value where a name goes.
var templateCases = []struct {
	name string
	make func(name string) (Message, error)
	want []string // in both text and HTML
}{
	{"invite", func(n string) (Message, error) {
		return Invite("new@example.org", n, "Acme IT", "https://relay.example.com/invite/abc?x=1&y=2", expires)
	}, []string{"Acme IT", "Sat, 21 Mar 2026 14:09 UTC"}},
	{"mfa", func(n string) (Message, error) {
		// The code goes where the hostile value does: it must be escaped too.
		return MFACode("user@example.org", n, 10*time.Minute)
	}, []string{"10 minutes"}},
	{"reset", func(string) (Message, error) {
		return PasswordReset("user@example.org", "https://relay.example.com/reset/t0k?x=1&y=2", expires)
	}, []string{"Sat, 21 Mar 2026 14:09 UTC"}},
	{"confirm", func(n string) (Message, error) {
		return ConfirmAccess("admin@example.org", n, "FINANCE-PC", []string{"Remote control", "File transfer"},
			"https://relay.example.com/confirm/1/allow?x=1&y=2", "https://relay.example.com/confirm/1/deny", expires)
	}, []string{"FINANCE-PC", "Remote control", "File transfer", "Sat, 21 Mar 2026 14:09 UTC"}},
	{"package", func(n string) (Message, error) {
		return PackageLink("it@example.org", n, "https://relay.example.com/pkg/42/installer?x=1&y=2")
	}, nil},
	{"ondemand", func(n string) (Message, error) {
		return OnDemandLink("ann@example.org", n, "Acme IT", "https://relay.example.com/s/613220463?x=1&y=2", expires)
	}, []string{"Acme IT", "https://relay.example.com/s/613220463", "Sat, 21 Mar 2026 14:09 UTC"}},
}

func TestTemplatesEscapeHTML(t *testing.T) {
	for _, c := range templateCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.make(evil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `"x"`) {
				t.Errorf("HTML not escaped:\n%s", m.HTML)
			}
			if c.name != "reset" && !strings.Contains(m.HTML, "Mallory &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;co&#34;") {
				t.Errorf("escaped value missing from HTML:\n%s", m.HTML)
			}
			// Plain text is not HTML: the value appears as it is.
			if c.name != "reset" && !strings.Contains(m.Text, evil) {
				t.Errorf("text lacks the value:\n%s", m.Text)
			}
			if strings.Contains(m.HTML, "ZgotmplZ") {
				t.Errorf("html/template refused a value:\n%s", m.HTML)
			}
			for _, w := range c.want {
				if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, w) {
					t.Errorf("%q missing\ntext:\n%s\nhtml:\n%s", w, m.Text, m.HTML)
				}
			}
			if strings.Contains(m.HTML, "?x=1&y=2") || (!strings.Contains(m.HTML, "?x=1&amp;y=2") && c.name != "mfa") {
				t.Errorf("link not attribute-escaped:\n%s", m.HTML)
			}
			if c.name != "mfa" && !strings.Contains(m.Text, "?x=1&y=2") {
				t.Errorf("text link altered:\n%s", m.Text)
			}
			if err := m.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTemplateContent(t *testing.T) {
	m, err := Invite("new@example.org", "Alice Admin", "Acme IT", "https://relay.example.com/invite/abc", expires)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Alice Admin invited you to Acme IT on Tandem" || len(m.To) != 1 || m.To[0] != "new@example.org" {
		t.Errorf("invite: %q to %v", m.Subject, m.To)
	}
	for _, w := range []string{"Alice Admin", "https://relay.example.com/invite/abc", "valid until Sat, 21 Mar 2026 14:09 UTC"} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("invite text lacks %q:\n%s", w, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `href="https://relay.example.com/invite/abc"`) {
		t.Errorf("invite HTML has no button link:\n%s", m.HTML)
	}

	m, err = MFACode("u@example.org", "492817", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Subject, "492817") {
		t.Errorf("code in subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "492817") || !strings.Contains(m.HTML, "492817") || !strings.Contains(m.Text, "90 seconds") {
		t.Errorf("mfa text:\n%s", m.Text)
	}

	m, err = ConfirmAccess("a@example.org", "Tech One", "PC-7", nil, "https://r.example/a", "https://r.example/d", expires)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "Requested permissions") || strings.Contains(m.HTML, "<ul>") {
		t.Errorf("empty permission list rendered:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://r.example/a"`) || !strings.Contains(m.HTML, `href="https://r.example/d"`) {
		t.Errorf("confirm buttons missing:\n%s", m.HTML)
	}
	if m.Subject != "Confirm access: Tech One wants to connect to PC-7" {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestTemplateBadInput(t *testing.T) {
	link := "https://relay.example.com/x"
	cases := map[string]func() (Message, error){
		"invite bad to":   func() (Message, error) { return Invite("nope", "a", "b", link, expires) },
		"invite js link":  func() (Message, error) { return Invite("a@b.com", "a", "b", "javascript:alert(1)", expires) },
		"invite rel link": func() (Message, error) { return Invite("a@b.com", "a", "b", "/invite/x", expires) },
		"invite newline":  func() (Message, error) { return Invite("a@b.com", "Eve\nClick: https://evil", "b", link, expires) },
		"invite empty":    func() (Message, error) { return Invite("a@b.com", "", "b", link, expires) },
		"mfa no code":     func() (Message, error) { return MFACode("a@b.com", "", time.Minute) },
		"mfa no validity": func() (Message, error) { return MFACode("a@b.com", "123456", 0) },
		"reset ftp link":  func() (Message, error) { return PasswordReset("a@b.com", "ftp://x/y", expires) },
		"confirm bad perm": func() (Message, error) {
			return ConfirmAccess("a@b.com", "t", "d", []string{"x\r\ny"}, link, link, expires)
		},
		"confirm no deny": func() (Message, error) { return ConfirmAccess("a@b.com", "t", "d", nil, link, "", expires) },
		"confirm subj CRLF": func() (Message, error) {
			return ConfirmAccess("a@b.com", "t", "d\r\nBcc: x@y.z", nil, link, link, expires)
		},
		"package bad to":    func() (Message, error) { return PackageLink("A <a@b.com>", "p", link) },
		"package long subj": func() (Message, error) { return PackageLink("a@b.com", strings.Repeat("p", 1000), link) },
	}
	for name, f := range cases {
		if _, err := f(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1 minute", 10 * time.Minute: "10 minutes", time.Hour: "1 hour", 2 * time.Hour: "2 hours",
		90 * time.Second: "90 seconds", 1500 * time.Millisecond: "2 seconds", 24 * time.Hour: "24 hours",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// A template message goes through the outbox and parses back intact.
func TestTemplateThroughOutbox(t *testing.T) {
	dir := t.TempDir()
	o, _ := newTestOutbox(t, dir, fixedClock)
	m, err := ConfirmAccess("admin@example.org", "Zoë Técnica", "PC-Ünïcode", []string{"Remote control"},
		"https://r.example/a", "https://r.example/d", expires)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	names := emlFiles(t, dir)
	if len(names) != 1 {
		t.Fatalf("files %v", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	h, text, html := parsed(t, raw)
	checkHeaders(t, h, m)
	if !sameBody(text, m.Text) || !sameBody(html, m.HTML) {
		t.Errorf("round trip changed the body:\n%s", text)
	}
}
