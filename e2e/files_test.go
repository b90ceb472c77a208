package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/internal/captest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// fileEnv is a relay, a host whose transfer root is root, and a local folder.
type fileEnv struct {
	env   *env
	host  *hostHandle
	root  string
	local string
}

func newFileEnv(tb testing.TB) *fileEnv {
	x := captest.StartX(tb, 640, 480)
	fe := &fileEnv{env: newEnv(tb), root: tb.TempDir(), local: tb.TempDir()}
	fe.host = fe.env.startHost(tb, x.Display, false, func(o *agent.Options) { o.Files.Root = fe.root })
	return fe
}

func randomFile(tb testing.TB, path string, n int) []byte {
	tb.Helper()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return data
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes (%v), want the %d bytes sent", path, len(got), err, len(want))
	}
	if _, err := os.Stat(path + agent.PartSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("part file left next to %s: %v", path, err)
	}
}

func wireCode(err error) uint16 {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

func TestFileTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fe := newFileEnv(t)
	s := fe.env.connect(t, ctx, fe.host.hostname, false)
	f := s.Files()

	// Put: a multi-chunk file, progress monotonic up to the size.
	src := filepath.Join(fe.local, "src.bin")
	data := randomFile(t, src, 3<<20+12345)
	sum := sha256.Sum256(data)
	var last int64
	st, err := f.Put(ctx, src, "up.bin", guest.TransferOptions{Progress: func(done, total int64) {
		if done < last || total != int64(len(data)) {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(data)) || st.ResumedFrom != 0 || st.Transferred != st.Size || st.SHA256 != sum || last != st.Size {
		t.Fatalf("put stats %+v, last progress %d", st, last)
	}
	sameFile(t, filepath.Join(fe.root, "up.bin"), data)

	// List.
	if err := os.Mkdir(filepath.Join(fe.root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := f.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 || l.Entries[0].Name != "sub" || l.Entries[0].Mode&wire.FileModeDir == 0 ||
		l.Entries[1].Name != "up.bin" || l.Entries[1].Size != uint64(len(data)) {
		t.Fatalf("listing %+v", l.Entries)
	}

	// Get it back into another folder name.
	back := filepath.Join(fe.local, "back.bin")
	st, err = f.Get(ctx, "up.bin", back, guest.TransferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.SHA256 != sum || st.Transferred != int64(len(data)) {
		t.Fatalf("get stats %+v", st)
	}
	sameFile(t, back, data)

	// Nothing is overwritten unless asked, on either side.
	if _, err := f.Put(ctx, src, "up.bin", guest.TransferOptions{}); wireCode(err) != wire.ErrCodeExists {
		t.Fatalf("put over an existing file: %v", err)
	}
	if _, err := f.Get(ctx, "up.bin", back, guest.TransferOptions{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("get over an existing file: %v", err)
	}
	if _, err := f.Put(ctx, src, "sub/up.bin", guest.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(fe.root, "sub", "up.bin"), data)

	// Names that leave the root are refused with a clear error.
	before, _ := os.ReadDir(filepath.Dir(fe.root))
	for _, p := range []string{"../../etc/passwd", "/etc/passwd", "a/../../x", `C:\Windows`, `\\server\share`, "x\x00y"} {
		if _, err := f.Put(ctx, src, p, guest.TransferOptions{Overwrite: true}); !strings.Contains(errString(err), "refused") {
			t.Errorf("put %q: %v", p, err)
		}
		if _, err := f.Get(ctx, p, filepath.Join(fe.local, "x"), guest.TransferOptions{}); !strings.Contains(errString(err), "refused") {
			t.Errorf("get %q: %v", p, err)
		}
	}
	if after, _ := os.ReadDir(filepath.Dir(fe.root)); len(after) != len(before) {
		t.Fatalf("entries next to the root changed: %d → %d", len(before), len(after))
	}
	// An empty file goes both ways too.
	empty := filepath.Join(fe.local, "empty")
	randomFile(t, empty, 0)
	if _, err := f.Put(ctx, empty, "sub/empty", guest.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, err := f.Get(ctx, "sub/empty", filepath.Join(fe.local, "empty2"), guest.TransferOptions{}); err != nil || st.SHA256 != sha256.Sum256(nil) {
		t.Fatalf("empty get: %+v, %v", st, err)
	}
	sameFile(t, filepath.Join(fe.local, "empty2"), []byte{})

	// The session still works after all that.
	if _, err := f.List(ctx, "sub"); err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// An interrupted transfer resumes in a new session from the partial file,
// and only the remainder crosses the wire.
func TestFileTransferResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fe := newFileEnv(t)
	src := filepath.Join(fe.local, "big.bin")
	data := randomFile(t, src, 12<<20)
	size := int64(len(data))

	// cutAt closes the session once half the file has gone through.
	cutAt := func(s *guest.Session) func(done, total int64) {
		var once sync.Once
		return func(done, total int64) {
			if done >= total/2 {
				once.Do(func() { s.Close() })
			}
		}
	}

	// Upload, cut mid-way.
	s1 := fe.env.connect(t, ctx, fe.host.hostname, false)
	if _, err := s1.Files().Put(ctx, src, "big.bin", guest.TransferOptions{Resume: true, Progress: cutAt(s1)}); err == nil {
		t.Fatal("the cut upload succeeded")
	}
	if err := fe.host.waitNoSessions(ctx); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(fe.root, "big.bin"+agent.PartSuffix)
	fi, err := os.Stat(part)
	if err != nil || fi.Size() <= 0 || fi.Size() >= size {
		t.Fatalf("part file after the cut: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(fe.root, "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the unverified file is in place: %v", err)
	}
	have := fi.Size()

	s2 := fe.env.connect(t, ctx, fe.host.hostname, false)
	st, err := s2.Files().Put(ctx, src, "big.bin", guest.TransferOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.ResumedFrom != have || st.Transferred != size-have || st.SHA256 != sha256.Sum256(data) {
		t.Fatalf("resumed put %+v, part had %d of %d", st, have, size)
	}
	sameFile(t, filepath.Join(fe.root, "big.bin"), data)
	t.Logf("upload resumed at %d: %d of %d bytes sent the second time", have, st.Transferred, size)

	// Download, cut mid-way.
	dst := filepath.Join(fe.local, "dl.bin")
	if _, err := s2.Files().Get(ctx, "big.bin", dst, guest.TransferOptions{Progress: cutAt(s2)}); err == nil {
		t.Fatal("the cut download succeeded")
	}
	fi, err = os.Stat(dst + guest.PartSuffix)
	if err != nil || fi.Size() < size/2 || fi.Size() >= size {
		t.Fatalf("local part file after the cut: %v, %v", fi, err)
	}
	have = fi.Size()
	s3 := fe.env.connect(t, ctx, fe.host.hostname, false)
	st, err = s3.Files().Get(ctx, "big.bin", dst, guest.TransferOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.ResumedFrom != have || st.Transferred != size-have || st.SHA256 != sha256.Sum256(data) {
		t.Fatalf("resumed get %+v, part had %d of %d", st, have, size)
	}
	sameFile(t, dst, data)
}

// BenchmarkFileTransfer reports upload and download throughput over
// loopback WebRTC (MB/s), with the screen streaming alongside.
func BenchmarkFileTransfer(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fe := newFileEnv(b)
	s := fe.env.connect(b, ctx, fe.host.hostname, false)
	src := filepath.Join(fe.local, "src.bin")
	data := randomFile(b, src, 32<<20)
	for _, dir := range []string{"put", "get"} {
		b.Run(dir, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				var err error
				if dir == "put" {
					_, err = s.Files().Put(ctx, src, "bench.bin", guest.TransferOptions{Overwrite: true})
				} else {
					_, err = s.Files().Get(ctx, "bench.bin", filepath.Join(fe.local, "dl.bin"), guest.TransferOptions{Overwrite: true})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The command line: files put, ls and get against a real host, and a
// refused name as a failing command.
func TestFilesCLI(t *testing.T) {
	fe := newFileEnv(t)
	c := fe.env.login(t)
	cfg := t.TempDir()
	if err := guest.SaveState(cfg, &guest.State{Relay: c.Relay, Email: ownerEmail, Token: c.Token}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		cmd := guest.Command()
		cmd.SetArgs(append([]string{"--config", cfg, "--ice-loopback", "--log-level", "error"}, args...))
		return cmd.Execute()
	}
	src := filepath.Join(fe.local, "notes.txt")
	data := randomFile(t, src, 200000)
	if err := run("files", "put", fe.host.hostname, src); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(fe.root, "notes.txt"), data)
	if err := run("files", "ls", fe.host.hostname); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(fe.local, "copy.txt")
	if err := run("files", "get", "-q", fe.host.hostname, "notes.txt", dst); err != nil {
		t.Fatal(err)
	}
	sameFile(t, dst, data)
	if err := run("files", "put", fe.host.hostname, src, "../../etc/passwd"); err == nil || !strings.Contains(err.Error(), "'..' is not allowed") {
		t.Fatalf("refused name: %v", err)
	}
	if err := run("files", "get", fe.host.hostname, "notes.txt", dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("get over an existing file: %v", err)
	}
}
