package relaytest

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// MailTo returns the text parts of the mails in an Outbox directory
// addressed to `to`, oldest first.
func MailTo(tb testing.TB, dir, to string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	names := make([]string, 0, len(ents))
	for _, en := range ents {
		if strings.HasSuffix(en.Name(), ".eml") {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names) // named by time
	var out []string
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			tb.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			tb.Fatal(err)
		}
		if strings.Contains(strings.ToLower(m.Header.Get("To")), strings.ToLower(to)) {
			out = append(out, MailText(tb, m))
		}
		f.Close()
	}
	return out
}

// MailText is the text/plain part of m, quoted-printable decoded.
func MailText(tb testing.TB, m *mail.Message) string {
	tb.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(m.Body)
		return string(b)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			tb.Fatal("no text/plain part")
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			var r io.Reader = p
			if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
				r = quotedprintable.NewReader(p) // long links get soft line breaks
			}
			b, _ := io.ReadAll(r)
			return string(b)
		}
	}
}
