package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// FilesOptions configure file transfer on this host.
type FilesOptions struct {
	// Root is the only folder guests may read and write: every path is
	// relative to it and nothing outside it is reachable, through ".." or
	// symlinks. Empty means the home directory of the user the agent runs as.
	Root string
	// MaxFileSize bounds each file, both ways; 0 means DefaultMaxFileSize.
	MaxFileSize int64
}

// DefaultMaxFileSize is the per-file limit when none is configured.
const DefaultMaxFileSize = 4 << 30

// PartSuffix names an upload in progress: the bytes land in
// "<name>.tandem-part" and become "<name>" only once their sha256 matches.
const PartSuffix = ".tandem-part"

const (
	filesHighWater = 1 << 20 // download pacing: bytes queued on the files channel
	maxTransfers   = 8       // open transfers per session

	maxListingBytes = 8 << 20 // encoded entries in one listing
)

// fileErr is a refusal or failure answered to the guest with a wire.Error.
type fileErr struct {
	code uint16
	msg  string
}

func (e *fileErr) Error() string { return e.msg }

func refusedf(code uint16, format string, a ...any) *fileErr {
	return &fileErr{code: code, msg: fmt.Sprintf(format, a...)}
}

// cleanPath checks a guest's '/'-separated path and returns it in host form
// relative to the root ("." for the root itself). Deny by default: anything
// that could name a place outside the root lexically is refused here, and
// os.Root refuses the rest (symlinks) when the path is used.
func cleanPath(p string) (string, error) {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return "", refusedf(wire.ErrCodeBadRequest, "path %q refused: it contains a NUL byte", strings.ReplaceAll(p, "\x00", `\0`))
	case strings.Contains(p, `\`):
		return "", refusedf(wire.ErrCodeBadRequest, "path %q refused: backslashes are not allowed (use '/' between folders)", p)
	case len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z'):
		return "", refusedf(wire.ErrCodeBadRequest, "path %q refused: drive letters are not allowed; paths are relative to the host's transfer folder", p)
	case strings.HasPrefix(p, "/"):
		return "", refusedf(wire.ErrCodeBadRequest, "path %q refused: absolute paths are not allowed; paths are relative to the host's transfer folder", p)
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", refusedf(wire.ErrCodeBadRequest, "path %q refused: '..' is not allowed", p)
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return filepath.Join(parts...), nil
}

// jail is the transfer root of one session.
type jail struct {
	root *os.Root
	dir  string // as configured
	real string // dir with symlinks resolved
}

func openJail(dir string) (*jail, error) {
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no transfer folder configured and no home directory: %w", err)
		}
		dir = home
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("the host's transfer folder is unavailable: %w", err)
	}
	root, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("the host's transfer folder is unavailable: %w", err)
	}
	return &jail{root: root, dir: dir, real: real}, nil
}

// resolve validates p and refuses a path that resolves (through symlinks)
// outside the root, with a clear message. The os.Root used afterwards is
// the race-free enforcement; this check exists to say why.
func (j *jail) resolve(p string) (string, error) {
	rel, err := cleanPath(p)
	if err != nil {
		return "", err
	}
	full := filepath.Join(j.real, rel)
	for q := full; ; q = filepath.Dir(q) {
		r, err := filepath.EvalSymlinks(q)
		if err == nil {
			if !within(j.real, r) {
				return "", refusedf(wire.ErrCodeDenied, "path %q refused: it leads outside the host's transfer folder (symbolic link)", p)
			}
			break
		}
		if q == j.real || !errors.Is(err, iofs.ErrNotExist) {
			break
		}
		if q == full {
			// A dangling symlink in the last component: never follow it.
			if fi, lerr := os.Lstat(q); lerr == nil && fi.Mode()&iofs.ModeSymlink != 0 {
				return "", refusedf(wire.ErrCodeDenied, "path %q refused: it is a symbolic link to a missing target", p)
			}
		}
	}
	return rel, nil
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// osErr turns a filesystem error into what the guest is told.
func osErr(p string, err error) *fileErr {
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return refusedf(wire.ErrCodeNotFound, "%q does not exist on the host", p)
	case errors.Is(err, iofs.ErrPermission):
		return refusedf(wire.ErrCodeDenied, "%q: the host's file permissions do not allow it", p)
	case strings.Contains(err.Error(), "escapes"):
		return refusedf(wire.ErrCodeDenied, "path %q refused: it leads outside the host's transfer folder", p)
	}
	return refusedf(wire.ErrCodeInternal, "%q: %v", p, err)
}

type upload struct {
	id        uint32
	path      string // as the guest named it (for logs and errors)
	rel, part string
	busyKey   string
	f         *os.File
	h         hash.Hash
	want      [32]byte
	size, off int64
	from      int64 // where this session started writing
	overwrite bool
	started   time.Time
}

type download struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// fileServer answers one session's file messages on the files channel.
// Uploads are written from the channel's receive loop, so a slow disk
// slows the guest (backpressure); downloads stream from their own goroutine.
type fileServer struct {
	s   *Session
	ctx context.Context
	log *slog.Logger
	max int64

	mu     sync.Mutex
	jail   *jail
	closed bool
	ups    map[uint32]*upload
	downs  map[uint32]*download
	// ended uploads: their chunks still in flight are dropped quietly, so
	// the guest does not take refusals of them for its next request's.
	ended map[uint32]struct{}
}

func newFileServer(ctx context.Context, s *Session) *fileServer {
	max := s.h.o.Files.MaxFileSize
	if max <= 0 {
		max = DefaultMaxFileSize
	}
	return &fileServer{s: s, ctx: ctx, log: s.log, max: max, ups: map[uint32]*upload{}, downs: map[uint32]*download{},
		ended: map[uint32]struct{}{}}
}

// close ends every transfer: downloads stop, upload part files are kept so
// a later session can resume them.
func (fs *fileServer) close() {
	fs.mu.Lock()
	fs.closed = true
	downs := fs.downs
	fs.downs = map[uint32]*download{}
	for _, u := range fs.ups {
		fs.log.Info("upload interrupted; partial file kept for resume", "path", u.path, "offset", u.off, "size", u.size)
		fs.dropUpload(u, false)
	}
	if fs.jail != nil {
		_ = fs.jail.root.Close()
	}
	fs.mu.Unlock()
	for _, d := range downs {
		d.cancel()
		<-d.done
	}
}

// handle runs one file message; the caller checked the permission.
func (fs *fileServer) handle(ch *transport.Channel, m wire.Message) error {
	fs.mu.Lock()
	reply, ferr := fs.do(ch, m)
	fs.mu.Unlock()
	if ferr != nil {
		fs.log.Warn("file transfer refused", "message", fmt.Sprintf("0x%02x", uint8(m.Type())), "reason", ferr.msg)
		fs.s.h.event(Event{Kind: "refused", SessionID: fs.s.g.SessionID, Technician: technician(fs.s.g), Detail: "file transfer: " + ferr.msg})
		return ch.Send(&wire.Error{Code: ferr.code, Ref: m.Type(), Message: ferr.msg})
	}
	if reply != nil {
		return ch.Send(reply)
	}
	return nil
}

func (fs *fileServer) do(ch *transport.Channel, m wire.Message) (wire.Message, *fileErr) {
	if fs.closed {
		return nil, nil // the session is ending: nothing more touches the disk
	}
	if fs.jail == nil {
		j, err := openJail(fs.s.h.o.Files.Root)
		if err != nil {
			return nil, refusedf(wire.ErrCodeInternal, "%v", err)
		}
		fs.jail = j
	}
	switch m := m.(type) {
	case *wire.FileList:
		return fs.list(m)
	case *wire.FileOpen:
		if _, dup := fs.ups[m.ID]; dup || fs.downs[m.ID] != nil {
			return nil, refusedf(wire.ErrCodeBadRequest, "transfer %d is already open", m.ID)
		}
		if len(fs.ups)+len(fs.downs) >= maxTransfers {
			return nil, refusedf(wire.ErrCodeBadRequest, "too many transfers at once (at most %d)", maxTransfers)
		}
		if m.Dir == wire.FilePut {
			return fs.openPut(m)
		}
		return fs.openGet(ch, m)
	case *wire.FileChunk:
		return nil, fs.chunk(m)
	case *wire.FileDone:
		return fs.done(m)
	case *wire.FileCancel:
		if u := fs.ups[m.ID]; u != nil {
			fs.log.Info("upload cancelled by the technician; partial file kept for resume", "path", u.path, "offset", u.off, "reason", m.Reason)
			fs.dropUpload(u, false)
		}
		if d := fs.downs[m.ID]; d != nil {
			d.cancel() // the stream goroutine removes itself
		}
		return nil, nil
	}
	return nil, refusedf(wire.ErrCodeBadRequest, "a guest does not send message 0x%02x", uint8(m.Type()))
}

func (fs *fileServer) list(m *wire.FileList) (wire.Message, *fileErr) {
	rel, err := fs.jail.resolve(m.Path)
	if err != nil {
		return nil, err.(*fileErr)
	}
	d, oerr := fs.jail.root.Open(rel)
	if oerr != nil {
		return nil, osErr(m.Path, oerr)
	}
	defer d.Close()
	des, rerr := d.ReadDir(wire.MaxFileEntries + 1)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		if fi, serr := d.Stat(); serr == nil && !fi.IsDir() {
			return nil, refusedf(wire.ErrCodeBadRequest, "%q is a file, not a folder", m.Path)
		}
		return nil, osErr(m.Path, rerr)
	}
	out := &wire.FileListing{ID: m.ID}
	if len(des) > wire.MaxFileEntries {
		des, out.Truncated = des[:wire.MaxFileEntries], true
	}
	budget := maxListingBytes
	for _, de := range des {
		if budget -= len(de.Name()) + 22; budget < 0 {
			out.Truncated = true // long names: keep the reply well under wire.MaxMessage
			break
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		e := wire.FileEntry{Name: de.Name(), Mode: uint32(fi.Mode().Perm()), ModTime: fi.ModTime().Unix()}
		switch {
		case fi.IsDir():
			e.Mode |= wire.FileModeDir
		case fi.Mode()&iofs.ModeSymlink != 0:
			e.Mode |= wire.FileModeSymlink
		default:
			e.Size = uint64(fi.Size())
		}
		out.Entries = append(out.Entries, e)
	}
	slices.SortFunc(out.Entries, func(a, b wire.FileEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (fs *fileServer) openPut(m *wire.FileOpen) (wire.Message, *fileErr) {
	rel, err := fs.jail.resolve(m.Path)
	if err != nil {
		return nil, err.(*fileErr)
	}
	if rel == "." || strings.HasSuffix(rel, PartSuffix) {
		return nil, refusedf(wire.ErrCodeBadRequest, "%q is not a file name the host accepts", m.Path)
	}
	if m.Size > uint64(fs.max) {
		return nil, refusedf(wire.ErrCodeTooLarge, "%q is %d bytes; this host accepts files up to %d bytes", m.Path, m.Size, fs.max)
	}
	size := int64(m.Size)
	overwrite := m.Flags&wire.FileOverwrite != 0
	if fi, lerr := fs.jail.root.Lstat(rel); lerr == nil {
		if fi.IsDir() {
			return nil, refusedf(wire.ErrCodeExists, "%q is a folder on the host", m.Path)
		}
		if !overwrite {
			return nil, refusedf(wire.ErrCodeExists, "%q already exists on the host (ask to overwrite it)", m.Path)
		}
	} else if !errors.Is(lerr, iofs.ErrNotExist) {
		return nil, osErr(m.Path, lerr)
	}
	busyKey := filepath.Join(fs.jail.real, rel)
	if !fs.s.h.claimFile(busyKey, fs.s.g.SessionID) {
		return nil, refusedf(wire.ErrCodeExists, "%q is being uploaded by another session", m.Path)
	}
	part := rel + PartSuffix
	var have int64
	if fi, serr := fs.jail.root.Lstat(part); serr == nil && fi.Mode().IsRegular() && m.Flags&wire.FileResume != 0 && fi.Size() <= size {
		have = fi.Size()
	}
	// Refuse before creating anything when the disk cannot hold the rest.
	if free, ferr := freeSpace(filepath.Dir(filepath.Join(fs.jail.real, rel))); ferr == nil && free < size-have {
		fs.s.h.releaseFile(busyKey)
		return nil, refusedf(wire.ErrCodeTooLarge, "%q needs %d more bytes; the host has %d free", m.Path, size-have, free)
	}
	f, oerr := fs.jail.root.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if oerr != nil {
		fs.s.h.releaseFile(busyKey)
		return nil, osErr(m.Path, oerr)
	}
	u := &upload{id: m.ID, path: m.Path, rel: rel, part: part, busyKey: busyKey, f: f, h: sha256.New(),
		want: m.SHA256, size: size, overwrite: overwrite, started: time.Now()}
	fail := func(e *fileErr) (wire.Message, *fileErr) {
		fs.dropUpload(u, false)
		return nil, e
	}
	// The digest covers the whole file: hash what a previous session wrote.
	if have > 0 {
		if _, err := io.CopyN(u.h, f, have); err != nil {
			return fail(osErr(m.Path, err))
		}
	}
	if err := f.Truncate(have); err != nil {
		return fail(osErr(m.Path, err))
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return fail(osErr(m.Path, err))
	}
	u.off, u.from = have, have
	fs.ups[m.ID] = u
	fs.log.Info("upload started", "path", m.Path, "size", size, "resume_offset", have)
	return &wire.FileReady{ID: m.ID, Offset: uint64(have), Size: m.Size}, nil
}

// dropUpload closes an upload; remove deletes its part file too.
func (fs *fileServer) dropUpload(u *upload, remove bool) {
	_ = u.f.Close()
	if remove {
		_ = fs.jail.root.Remove(u.part)
	}
	fs.s.h.releaseFile(u.busyKey)
	delete(fs.ups, u.id)
	if len(fs.ended) >= 1024 {
		clear(fs.ended)
	}
	fs.ended[u.id] = struct{}{}
}

func (fs *fileServer) chunk(m *wire.FileChunk) *fileErr {
	u := fs.ups[m.ID]
	if u == nil {
		if _, ok := fs.ended[m.ID]; ok {
			return nil
		}
		return refusedf(wire.ErrCodeBadRequest, "no upload %d is open", m.ID)
	}
	if m.Offset != uint64(u.off) || m.Offset+uint64(len(m.Data)) > uint64(u.size) {
		fs.dropUpload(u, false)
		return refusedf(wire.ErrCodeBadRequest, "upload of %q: chunk at %d+%d does not follow %d of %d; upload stopped",
			u.path, m.Offset, len(m.Data), u.off, u.size)
	}
	if _, err := u.f.Write(m.Data); err != nil {
		fs.dropUpload(u, false)
		return refusedf(wire.ErrCodeInternal, "upload of %q: writing failed: %v", u.path, err)
	}
	u.h.Write(m.Data)
	u.off += int64(len(m.Data))
	return nil
}

func (fs *fileServer) done(m *wire.FileDone) (wire.Message, *fileErr) {
	u := fs.ups[m.ID]
	if u == nil {
		if _, ok := fs.ended[m.ID]; ok {
			return nil, nil // its failure was reported already
		}
		return nil, refusedf(wire.ErrCodeBadRequest, "no upload %d is open", m.ID)
	}
	if u.off != u.size || m.Size != uint64(u.size) {
		fs.dropUpload(u, false)
		return nil, refusedf(wire.ErrCodeBadRequest, "upload of %q ended at %d of %d bytes", u.path, u.off, u.size)
	}
	var got [32]byte
	u.h.Sum(got[:0])
	if got != u.want || got != m.SHA256 {
		// The bytes are wrong somewhere: a resume cannot fix that.
		fs.dropUpload(u, true)
		want := u.want
		if got == want {
			want = m.SHA256 // the guest changed its mind about the digest
		}
		return nil, refusedf(wire.ErrCodeChecksum, "upload of %q failed: sha256 of the received bytes is %s, the guest's file has %s; nothing was saved",
			u.path, hex.EncodeToString(got[:]), hex.EncodeToString(want[:]))
	}
	if err := u.f.Sync(); err != nil {
		fs.dropUpload(u, false)
		return nil, refusedf(wire.ErrCodeInternal, "upload of %q: %v", u.path, err)
	}
	_ = u.f.Close() // Windows renames only closed files
	if !u.overwrite {
		if _, err := fs.jail.root.Lstat(u.rel); err == nil {
			fs.dropUpload(u, true)
			return nil, refusedf(wire.ErrCodeExists, "%q appeared on the host during the upload; nothing was overwritten", u.path)
		}
	}
	if err := fs.jail.root.Rename(u.part, u.rel); err != nil {
		fs.dropUpload(u, false)
		return nil, osErr(u.path, err)
	}
	fs.dropUpload(u, false)
	syncDir(fs.jail.root, filepath.Dir(u.rel))
	fs.log.Info("file received", "path", u.path, "bytes", u.size, "sent_this_session", u.size-u.from,
		"sha256", hex.EncodeToString(got[:]), "duration", time.Since(u.started).Round(time.Millisecond))
	fs.s.h.event(Event{Kind: "file_received", SessionID: fs.s.g.SessionID, Technician: technician(fs.s.g), Detail: u.path})
	return &wire.FileAck{ID: m.ID, Size: m.Size, SHA256: got}, nil
}

// syncDir makes a rename durable where directories can be synced.
func syncDir(root *os.Root, dir string) {
	if d, err := root.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func (fs *fileServer) openGet(ch *transport.Channel, m *wire.FileOpen) (wire.Message, *fileErr) {
	rel, err := fs.jail.resolve(m.Path)
	if err != nil {
		return nil, err.(*fileErr)
	}
	f, oerr := fs.jail.root.Open(rel)
	if oerr != nil {
		return nil, osErr(m.Path, oerr)
	}
	fi, serr := f.Stat()
	if serr != nil || !fi.Mode().IsRegular() {
		f.Close()
		if serr != nil {
			return nil, osErr(m.Path, serr)
		}
		return nil, refusedf(wire.ErrCodeBadRequest, "%q is not a regular file", m.Path)
	}
	size := fi.Size()
	if size > fs.max {
		f.Close()
		return nil, refusedf(wire.ErrCodeTooLarge, "%q is %d bytes; this host sends files up to %d bytes", m.Path, size, fs.max)
	}
	if m.Offset > uint64(size) {
		f.Close()
		return nil, refusedf(wire.ErrCodeBadRequest, "resume offset %d is beyond %q's %d bytes", m.Offset, m.Path, size)
	}
	ctx, cancel := context.WithCancel(fs.ctx)
	d := &download{cancel: cancel, done: make(chan struct{})}
	fs.downs[m.ID] = d
	ready := &wire.FileReady{ID: m.ID, Offset: m.Offset, Size: uint64(size)}
	// FileReady goes out before the first chunk: send it here, not as the reply.
	if err := ch.Send(ready); err != nil {
		delete(fs.downs, m.ID)
		cancel()
		f.Close()
		return nil, nil
	}
	go func() {
		defer close(d.done)
		defer cancel()
		defer f.Close()
		ferr := fs.stream(ctx, ch, m.ID, m.Path, f, int64(m.Offset), size)
		fs.mu.Lock()
		if fs.downs[m.ID] == d {
			delete(fs.downs, m.ID)
		}
		fs.mu.Unlock()
		if ferr != nil {
			fs.log.Warn("download failed", "path", m.Path, "reason", ferr.msg)
			_ = ch.Send(&wire.Error{Code: ferr.code, Ref: wire.TypeFileChunk, Message: ferr.msg})
		}
	}()
	return nil, nil
}

func (fs *fileServer) stream(ctx context.Context, ch *transport.Channel, id uint32, path string, f *os.File, off, size int64) *fileErr {
	start := time.Now()
	h := sha256.New()
	if _, err := io.CopyN(h, f, off); err != nil {
		return refusedf(wire.ErrCodeInternal, "reading %q: %v", path, err)
	}
	buf := make([]byte, wire.MaxFileChunk)
	for pos := off; pos < size; {
		if err := ch.WaitBuffered(ctx, filesHighWater); err != nil || ctx.Err() != nil {
			fs.log.Info("download interrupted", "path", path, "offset", pos, "size", size)
			return nil
		}
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), size-pos)])
		if err != nil {
			return refusedf(wire.ErrCodeInternal, "reading %q: it changed while being sent: %v", path, err)
		}
		h.Write(buf[:n])
		if err := ch.Send(&wire.FileChunk{ID: id, Offset: uint64(pos), Data: buf[:n]}); err != nil {
			return nil // the session is ending
		}
		pos += int64(n)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if err := ch.Send(&wire.FileDone{ID: id, Size: uint64(size), SHA256: sum}); err != nil {
		return nil
	}
	fs.log.Info("file sent", "path", path, "bytes", size, "sent_this_session", size-off,
		"sha256", hex.EncodeToString(sum[:]), "duration", time.Since(start).Round(time.Millisecond))
	fs.s.h.event(Event{Kind: "file_sent", SessionID: fs.s.g.SessionID, Technician: technician(fs.s.g), Detail: path})
	return nil
}
