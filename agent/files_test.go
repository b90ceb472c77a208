package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/policy"
	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

func TestCleanPath(t *testing.T) {
	refused := []string{
		"../../etc/passwd", "/etc/passwd", "a/../../x", "..", "a/..", `C:\Windows`, "C:/Windows", "c:", "x:y", `\\server\share`,
		"//server/share", "a\x00b", "\x00", `a\b`,
	}
	for _, p := range refused {
		if rel, err := cleanPath(p); err == nil {
			t.Errorf("cleanPath(%q) = %q, want refused", p, rel)
		} else if !strings.Contains(err.Error(), "refused") {
			t.Errorf("cleanPath(%q): unclear error %q", p, err)
		}
	}
	ok := map[string]string{"": ".", ".": ".", "a": "a", "a/b.txt": filepath.Join("a", "b.txt"), "./a//b/": filepath.Join("a", "b"),
		"..a": "..a", "a..": "a..", "xy:z": "xy:z", "notes 10:30.txt": "notes 10:30.txt"}
	for in, want := range ok {
		if got, err := cleanPath(in); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Whatever cleanPath accepts stays inside the root lexically.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"../../etc/passwd", "a/./b", `C:\x`, "a/../b", "...", "a\x00", "/", "x/..."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rel, err := cleanPath(p)
		if err != nil {
			return
		}
		root := filepath.FromSlash("/jail/root")
		full := filepath.Join(root, rel)
		if !within(root, full) || filepath.IsAbs(rel) || strings.ContainsRune(rel, 0) {
			t.Fatalf("cleanPath(%q) = %q escapes: %q", p, rel, full)
		}
	})
}

type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }
func (l *eventLog) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.ev {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// reaches waits until kind was recorded n times: events that follow a
// message the test already received (the engine sends, then records) may
// still be on their way.
func (l *eventLog) reaches(kind string, n int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if l.count(kind) >= n {
			return l.count(kind) == n
		}
	}
	return false
}

type fileHost struct {
	f       *fakeRelay
	dev     string
	root    string // the transfer root
	outside string // a folder next to it that must stay untouched
	events  *eventLog
}

func startFileHost(t *testing.T, max int64) *fileHost {
	t.Helper()
	base := t.TempDir()
	fh := &fileHost{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside"), events: &eventLog{}}
	for _, d := range []string{fh.root, fh.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fh.f, _, fh.dev = startHostWith(t, &recordingInjector{}, func(o *Options) {
		o.Files = FilesOptions{Root: fh.root, MaxFileSize: max}
		o.OnEvent = fh.events.add
	})
	return fh
}

// session starts a session with these permissions and returns its files channel.
func (fh *fileHost) session(t *testing.T, sid string, perms ...policy.Permission) *transport.Channel {
	t.Helper()
	var names []string
	for _, p := range perms {
		names = append(names, string(p))
	}
	fh.f.push(&wire.Signal{Type: wire.SigGrant, Session: sid, Grant: fh.f.grant(t, sid, fh.dev, names, time.Now().Add(time.Minute), fh.f.key)})
	_, chans := guestPeer(t, fh.f, sid)
	return chans[wire.ChannelFiles]
}

// call sends m and returns the host's next message on the channel.
func call(t *testing.T, ch *transport.Channel, m wire.Message) wire.Message {
	t.Helper()
	if err := ch.Send(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := ch.Recv(ctx)
	if err != nil {
		t.Fatalf("reply to 0x%02x: %v", uint8(m.Type()), err)
	}
	return r
}

func wantError(t *testing.T, r wire.Message, code uint16, ref wire.MsgType, text string) {
	t.Helper()
	e, ok := r.(*wire.Error)
	if !ok || e.Code != code || e.Ref != ref || !strings.Contains(e.Message, text) {
		t.Fatalf("got %#v, want error %d on 0x%02x mentioning %q", r, code, uint8(ref), text)
	}
}

// listTree returns every path under dir (relative), to prove nothing was created.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFilesRefusedWithoutPermission(t *testing.T) {
	fh := startFileHost(t, 0)
	if err := os.WriteFile(filepath.Join(fh.root, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := fh.session(t, "nofiles", policy.ViewScreen, policy.KeyboardMouse)
	data := []byte("payload")
	msgs := []wire.Message{
		&wire.FileList{ID: 1},
		&wire.FileOpen{ID: 2, Dir: wire.FilePut, Path: "new.txt", Size: uint64(len(data)), SHA256: sha256.Sum256(data)},
		&wire.FileChunk{ID: 2, Data: data},
		&wire.FileDone{ID: 2, Size: uint64(len(data)), SHA256: sha256.Sum256(data)},
		&wire.FileOpen{ID: 3, Dir: wire.FileGet, Path: "secret.txt"},
		&wire.FileCancel{ID: 3},
		&wire.FileAck{ID: 3},
	}
	for _, m := range msgs {
		wantError(t, call(t, ch, m), wire.ErrCodeDenied, m.Type(), "file_transfer")
	}
	if got := listTree(t, fh.root); len(got) != 1 || got[0] != "secret.txt" {
		t.Fatalf("the transfer root changed: %v", got)
	}
	if n := fh.events.count("refused"); n != len(msgs) {
		t.Fatalf("%d refusals audited, want %d", n, len(msgs))
	}
}

func TestFilesJail(t *testing.T) {
	fh := startFileHost(t, 0)
	secret := filepath.Join(fh.outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Symlinks inside the root that point outside it.
	if err := os.Symlink(secret, filepath.Join(fh.root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fh.outside, filepath.Join(fh.root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(fh.outside, "missing.txt"), filepath.Join(fh.root, "dangling.txt")); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, filepath.Dir(fh.root))
	ch := fh.session(t, "jail", policy.FileTransfer)
	data := []byte("attack")
	sum := sha256.Sum256(data)

	bad := []struct{ path, why string }{
		{"../../etc/passwd", "'..'"},
		{"/etc/passwd", "absolute"},
		{"a/../../x", "'..'"},
		{`C:\Windows`, "refused"},
		{`\\server\share`, "backslash"},
		{"evil\x00.txt", "NUL"},
		{"link.txt", "outside"},
		{"linkdir/secret.txt", "outside"},
		{"linkdir/new.txt", "outside"},
		{"dangling.txt", "symbolic link"},
	}
	id := uint32(0)
	for _, b := range bad {
		id++
		put := &wire.FileOpen{ID: id, Dir: wire.FilePut, Flags: wire.FileOverwrite, Path: b.path, Size: uint64(len(data)), SHA256: sum}
		r := call(t, ch, put)
		if e, ok := r.(*wire.Error); !ok || (e.Code != wire.ErrCodeBadRequest && e.Code != wire.ErrCodeDenied) || !strings.Contains(e.Message, b.why) {
			t.Errorf("put %q: %#v, want a refusal mentioning %q", b.path, r, b.why)
		}
		id++
		r = call(t, ch, &wire.FileOpen{ID: id, Dir: wire.FileGet, Path: b.path})
		if e, ok := r.(*wire.Error); !ok || (e.Code != wire.ErrCodeBadRequest && e.Code != wire.ErrCodeDenied) || !strings.Contains(e.Message, b.why) {
			t.Errorf("get %q: %#v, want a refusal mentioning %q", b.path, r, b.why)
		}
	}
	wantError(t, call(t, ch, &wire.FileList{ID: 99, Path: "linkdir"}), wire.ErrCodeDenied, wire.TypeFileList, "outside")
	wantError(t, call(t, ch, &wire.FileList{ID: 99, Path: ".."}), wire.ErrCodeBadRequest, wire.TypeFileList, "'..'")

	// A chunk for a refused open has no transfer to land in.
	wantError(t, call(t, ch, &wire.FileChunk{ID: 1, Data: data}), wire.ErrCodeBadRequest, wire.TypeFileChunk, "no upload")
	after := listTree(t, filepath.Dir(fh.root))
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("files changed:\nbefore %v\nafter  %v", before, after)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "outside" {
		t.Fatalf("the outside file changed: %q, %v", b, err)
	}

	// The listing of the root itself works and shows the links as links.
	l, ok := call(t, ch, &wire.FileList{ID: 100}).(*wire.FileListing)
	if !ok || len(l.Entries) != 3 || l.Entries[1].Name != "link.txt" || l.Entries[1].Mode&wire.FileModeSymlink == 0 {
		t.Fatalf("root listing %#v", l)
	}
}

// sendUpload sends data in chunks of size chunk from off; it returns the reply to FileDone.
func sendUpload(t *testing.T, ch *transport.Channel, id uint32, data []byte, off, chunk int, sum [32]byte) wire.Message {
	t.Helper()
	for pos := off; pos < len(data); pos += chunk {
		end := min(pos+chunk, len(data))
		if err := ch.Send(&wire.FileChunk{ID: id, Offset: uint64(pos), Data: data[pos:end]}); err != nil {
			t.Fatal(err)
		}
	}
	return call(t, ch, &wire.FileDone{ID: id, Size: uint64(len(data)), SHA256: sum})
}

func TestFilesUploadResumeAndVerify(t *testing.T) {
	fh := startFileHost(t, 0)
	ch := fh.session(t, "up", policy.FileTransfer)
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 000 bytes, several chunks
	sum := sha256.Sum256(data)
	open := func(id uint32, flags uint8) wire.Message {
		return call(t, ch, &wire.FileOpen{ID: id, Dir: wire.FilePut, Flags: flags, Path: "dir/data.bin", Size: uint64(len(data)), SHA256: sum})
	}
	// The parent folder must exist.
	wantError(t, open(1, 0), wire.ErrCodeNotFound, wire.TypeFileOpen, "does not exist")
	if err := os.Mkdir(filepath.Join(fh.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	// First attempt: 100 000 bytes, then the technician cancels.
	if r, ok := open(2, wire.FileResume).(*wire.FileReady); !ok || r.Offset != 0 {
		t.Fatalf("ready %#v", r)
	}
	for pos := 0; pos < 100000; pos += 25000 {
		if err := ch.Send(&wire.FileChunk{ID: 2, Offset: uint64(pos), Data: data[pos : pos+25000]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Send(&wire.FileCancel{ID: 2, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(fh.root, "dir", "data.bin"+PartSuffix)
	// A ping/pong barrier is on another channel; a listing on this one is ordered after the cancel.
	l, ok := call(t, ch, &wire.FileList{ID: 3, Path: "dir"}).(*wire.FileListing)
	if !ok || len(l.Entries) != 1 || l.Entries[0].Size != 100000 {
		t.Fatalf("listing after cancel %#v", l)
	}
	if _, err := os.Stat(filepath.Join(fh.root, "dir", "data.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("final file exists before verification: %v", err)
	}

	// Resumed: the host says where to continue; only the rest is sent.
	r, ok := open(4, wire.FileResume).(*wire.FileReady)
	if !ok || r.Offset != 100000 || r.Size != uint64(len(data)) {
		t.Fatalf("resume ready %#v", r)
	}
	// A chunk that does not follow stops the upload (the part is kept).
	wantError(t, call(t, ch, &wire.FileChunk{ID: 4, Offset: 5, Data: []byte("x")}), wire.ErrCodeBadRequest, wire.TypeFileChunk, "does not follow")
	// What the guest had in flight for it is dropped quietly: the next reply
	// answers the next request.
	for _, m := range []wire.Message{&wire.FileChunk{ID: 4, Offset: 100000, Data: data[:10]}, &wire.FileDone{ID: 4, Size: uint64(len(data)), SHA256: sum}} {
		if err := ch.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := call(t, ch, &wire.FileList{ID: 40}).(*wire.FileListing); !ok {
		t.Fatal("a stale chunk or done was answered")
	}
	r, ok = open(5, wire.FileResume).(*wire.FileReady)
	if !ok || r.Offset != 100000 {
		t.Fatalf("resume ready %#v", r)
	}
	ack, ok := sendUpload(t, ch, 5, data, 100000, wire.MaxFileChunk, sum).(*wire.FileAck)
	if !ok || ack.SHA256 != sum || ack.Size != uint64(len(data)) {
		t.Fatalf("ack %#v", ack)
	}
	got, err := os.ReadFile(filepath.Join(fh.root, "dir", "data.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs (%d bytes, %v)", len(got), err)
	}
	if _, err := os.Stat(part); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("part file left behind: %v", err)
	}
	if fh.events.count("file_received") != 1 {
		t.Fatal("completed upload not audited")
	}

	// Existing file: refused unless overwriting was asked for.
	wantError(t, open(6, 0), wire.ErrCodeExists, wire.TypeFileOpen, "already exists")
	if _, ok := open(7, wire.FileOverwrite).(*wire.FileReady); !ok {
		t.Fatal("overwrite refused")
	}
	data2 := bytes.Repeat([]byte{7}, 1000)
	wantError(t, call(t, ch, &wire.FileDone{ID: 7, Size: uint64(len(data)), SHA256: sum}), wire.ErrCodeBadRequest, wire.TypeFileDone, "ended at 0")
	if _, ok := call(t, ch, &wire.FileOpen{ID: 8, Dir: wire.FilePut, Flags: wire.FileOverwrite, Path: "dir/data.bin",
		Size: uint64(len(data2)), SHA256: sha256.Sum256(data2)}).(*wire.FileReady); !ok {
		t.Fatal("overwrite refused")
	}
	if _, ok := sendUpload(t, ch, 8, data2, 0, 300, sha256.Sum256(data2)).(*wire.FileAck); !ok {
		t.Fatal("overwrite failed")
	}
	if got, _ := os.ReadFile(filepath.Join(fh.root, "dir", "data.bin")); !bytes.Equal(got, data2) {
		t.Fatal("file not overwritten")
	}
}

func TestFilesCorruptUploadNotSaved(t *testing.T) {
	fh := startFileHost(t, 0)
	ch := fh.session(t, "corrupt", policy.FileTransfer)
	data := bytes.Repeat([]byte("abc"), 50000)
	sum := sha256.Sum256(data)
	bad := append([]byte(nil), data...)
	bad[77777] ^= 0x40 // one bit flipped in transit
	if _, ok := call(t, ch, &wire.FileOpen{ID: 1, Dir: wire.FilePut, Path: "f.bin", Size: uint64(len(data)), SHA256: sum}).(*wire.FileReady); !ok {
		t.Fatal("open refused")
	}
	wantError(t, sendUpload(t, ch, 1, bad, 0, 40000, sum), wire.ErrCodeChecksum, wire.TypeFileDone, "nothing was saved")
	if got := listTree(t, fh.root); len(got) != 0 {
		t.Fatalf("a corrupt upload left %v", got)
	}
	// A FileDone whose digest differs from the announced one fails the same way.
	if _, ok := call(t, ch, &wire.FileOpen{ID: 2, Dir: wire.FilePut, Path: "f.bin", Size: uint64(len(data)), SHA256: sum}).(*wire.FileReady); !ok {
		t.Fatal("open refused")
	}
	wantError(t, sendUpload(t, ch, 2, data, 0, 40000, sha256.Sum256(bad)), wire.ErrCodeChecksum, wire.TypeFileDone, "sha256")
	if got := listTree(t, fh.root); len(got) != 0 {
		t.Fatalf("a mismatched upload left %v", got)
	}
}

func TestFilesSizeLimit(t *testing.T) {
	fh := startFileHost(t, 1000)
	if err := os.WriteFile(filepath.Join(fh.root, "big.bin"), make([]byte, 1001), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := fh.session(t, "limit", policy.FileTransfer)
	wantError(t, call(t, ch, &wire.FileOpen{ID: 1, Dir: wire.FilePut, Path: "new.bin", Size: 1001}),
		wire.ErrCodeTooLarge, wire.TypeFileOpen, "up to 1000 bytes")
	wantError(t, call(t, ch, &wire.FileOpen{ID: 2, Dir: wire.FileGet, Path: "big.bin"}),
		wire.ErrCodeTooLarge, wire.TypeFileOpen, "up to 1000 bytes")
	if got := listTree(t, fh.root); len(got) != 1 {
		t.Fatalf("refused uploads left %v", got)
	}
}

// More than the disk holds is refused up front, before a part file exists.
func TestFilesDiskFull(t *testing.T) {
	fh := startFileHost(t, 1<<62)
	free, err := freeSpace(fh.root)
	if err != nil {
		t.Skipf("free space not measured on this platform: %v", err)
	}
	ch := fh.session(t, "full", policy.FileTransfer)
	wantError(t, call(t, ch, &wire.FileOpen{ID: 1, Dir: wire.FilePut, Path: "huge.bin", Size: uint64(free) + 1<<40}),
		wire.ErrCodeTooLarge, wire.TypeFileOpen, "free")
	if got := listTree(t, fh.root); len(got) != 0 {
		t.Fatalf("a refused upload left %v", got)
	}
}
