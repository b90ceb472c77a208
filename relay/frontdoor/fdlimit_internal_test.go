package frontdoor

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// errListener fails every Accept with its error.
type errListener struct {
	net.Listener
	err error
}

func (l *errListener) Accept() (net.Conn, error) { return nil, l.err }

// TestAcceptFDLimitWarns: accept failing with EMFILE or ENFILE is logged
// as a warning, once per LogEvery with the count; other errors are not.
func TestAcceptFDLimitWarns(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	fail := &errListener{err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}}
	ln := LimitListener(fail, ConnLimits{Log: log, LogEvery: time.Hour}).(*limitListener)
	lines := func() int { return strings.Count(buf.String(), "out of file descriptors") }

	for range 5 {
		if _, err := ln.Accept(); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("Accept = %v, want the EMFILE error passed on (http.Server retries it)", err)
		}
	}
	fail.err = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ENFILE)}
	ln.Accept()
	if n := lines(); n != 1 {
		t.Fatalf("%d warnings for 6 failures within LogEvery, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("not a warning: %s", buf.String())
	}
	fail.err = net.ErrClosed
	ln.Accept()
	if n := lines(); n != 1 {
		t.Fatalf("a closed listener was reported as out of descriptors:\n%s", buf.String())
	}
	// Once LogEvery has passed, the next failure logs the count since.
	fail.err = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	ln.mu.Lock()
	ln.lastFD = ln.lastFD.Add(-time.Hour)
	ln.mu.Unlock()
	ln.Accept()
	if n := lines(); n != 2 || !strings.Contains(buf.String(), "failures=6") {
		t.Fatalf("want a second warning counting 6 failures:\n%s", buf.String())
	}
}
