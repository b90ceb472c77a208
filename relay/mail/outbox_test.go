package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestOutbox(t *testing.T, dir string, now func() time.Time) (*Outbox, *bytes.Buffer) {
	t.Helper()
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, nil))
	o, err := NewOutbox(OutboxConfig{Dir: dir, From: Address{Name: "Tandem Relay", Addr: "tandem@example.com"}, Now: now}, log)
	if err != nil {
		t.Fatal(err)
	}
	return o, &logBuf
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestOutboxWritesMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, logBuf := newTestOutbox(t, dir, fixedClock)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("outbox dir: %v %v, want 0700", fi.Mode(), err)
	}
	m := testMessage()
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	names := emlFiles(t, dir)
	if len(names) != 1 || !strings.HasPrefix(names[0], "20260314T150926.000000000Z-") || !strings.HasSuffix(names[0], ".eml") {
		t.Fatalf("files %v", names)
	}
	path := filepath.Join(dir, names[0])
	fi, err = os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v, want 0600", fi.Mode(), err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, text, html := parsed(t, raw)
	checkHeaders(t, h, m)
	if !sameBody(text, m.Text) || !sameBody(html, m.HTML) {
		t.Errorf("text %q html %q", text, html)
	}
	if !strings.Contains(logBuf.String(), "path="+path) || !strings.Contains(logBuf.String(), "level=INFO") {
		t.Errorf("log does not name the file at info level: %s", logBuf.String())
	}
}

func TestOutboxNamesSortByTime(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	clock := fixedTime
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	o, _ := newTestOutbox(t, dir, now)
	for i := range 5 {
		m := testMessage()
		m.Subject = fmt.Sprintf("message %d", i)
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	names := emlFiles(t, dir) // ReadDir sorts by name
	for i, n := range names {
		raw, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte(fmt.Sprintf("Subject: message %d", i))) {
			t.Errorf("file %d (%s) is not message %d", i, n, i)
		}
	}
}

func TestOutboxConcurrentUniqueNames(t *testing.T) {
	dir := t.TempDir()
	// Every writer sees the same instant: names must still not collide.
	o, _ := newTestOutbox(t, dir, fixedClock)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m := testMessage()
			m.Subject = fmt.Sprintf("concurrent %d", i)
			errs <- o.Send(context.Background(), m)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	names := emlFiles(t, dir)
	if len(names) != n {
		t.Fatalf("%d files, want %d: %v", len(names), n, names)
	}
	var subjects []string
	for _, name := range names {
		if strings.HasPrefix(name, ".") {
			t.Errorf("temporary file left behind: %s", name)
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h, _, _ := parsed(t, raw)
		subjects = append(subjects, h.Get("Subject"))
	}
	slices.Sort(subjects)
	if len(slices.Compact(subjects)) != n {
		t.Errorf("some messages were overwritten: %v", subjects)
	}
}

func TestOutboxBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	o, _ := newTestOutbox(t, dir, fixedClock)
	m := testMessage()
	m.Subject = "x\r\nBcc: evil@example.com"
	if err := o.Send(context.Background(), m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if names := emlFiles(t, dir); len(names) != 0 {
		t.Errorf("files written: %v", names)
	}
}

func TestOutboxBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plainfile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"empty":        "",
		"is a file":    file,
		"under a file": filepath.Join(file, "sub"),
	} {
		_, err := NewOutbox(OutboxConfig{Dir: dir}, nil)
		if !errors.Is(err, ErrOutbox) {
			t.Errorf("%s: err = %v, want ErrOutbox", name, err)
		}
	}
}

func TestOutboxDirRemovedLater(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "outbox")
	o, _ := newTestOutbox(t, dir, fixedClock)
	// Replace the directory by a file: Send must fail clearly, not lose
	// the message silently.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), testMessage()); !errors.Is(err, ErrOutbox) {
		t.Fatalf("err = %v, want ErrOutbox", err)
	}
}
