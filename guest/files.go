package guest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tandem-rc/tandem/transport"
	"github.com/tandem-rc/tandem/transport/wire"
)

// PartSuffix names a download in progress next to its final name.
const PartSuffix = ".tandem-part"

// filesHighWater bounds the upload bytes queued on the files channel.
const filesHighWater = 1 << 20

// ErrChecksum means a transferred file's sha256 did not match; nothing was saved.
var ErrChecksum = errors.New("guest: checksum mismatch")

// TransferOptions tune a Put or Get.
type TransferOptions struct {
	// Resume continues a partial transfer (the host's part file for a put,
	// the local one for a get) instead of starting over.
	Resume bool
	// Overwrite replaces an existing destination file.
	Overwrite bool
	// Progress is called after each chunk with the bytes of the file in
	// place so far (including a resumed prefix) and the file's size.
	Progress func(done, total int64)
}

// TransferStats describe a finished transfer.
type TransferStats struct {
	Size        int64
	ResumedFrom int64 // bytes already there before this transfer
	Transferred int64 // bytes carried this time
	SHA256      [32]byte
}

// Files is file transfer on a session; the session's grant must carry
// file_transfer. One request runs at a time (the host's refusals name the
// message type, not the transfer), so concurrent calls wait their turn.
type Files struct {
	s   *Session
	ch  *transport.Channel
	mu  sync.Mutex
	id  atomic.Uint32
	cur atomic.Pointer[fileOp]
}

type fileOp struct {
	id   uint32
	in   chan wire.Message
	done chan struct{}
}

// Files returns the session's file transfer API.
func (s *Session) Files() *Files { return s.files }

func (f *Files) begin() *fileOp {
	f.mu.Lock()
	op := &fileOp{id: f.id.Add(1), in: make(chan wire.Message, 16), done: make(chan struct{})}
	f.cur.Store(op)
	return op
}

func (f *Files) end(op *fileOp) {
	f.cur.Store(nil)
	close(op.done)
	f.mu.Unlock()
}

// loop delivers the files channel's messages to the request in progress
// and drops the rest (chunks of a cancelled download still in flight), so
// the channel is always drained.
func (f *Files) loop(ctx context.Context) {
	for {
		m, err := f.ch.Recv(ctx)
		if err != nil {
			var pe *transport.ProtocolError
			if errors.As(err, &pe) {
				f.s.c.Logger.Warn("malformed message from host", "err", err)
				continue
			}
			return
		}
		op := f.cur.Load()
		if op == nil || !belongs(m, op.id) {
			continue
		}
		select {
		case op.in <- m:
		case <-op.done:
		case <-ctx.Done():
			return
		}
	}
}

func belongs(m wire.Message, id uint32) bool {
	switch m := m.(type) {
	case *wire.Error:
		return true
	case *wire.FileListing:
		return m.ID == id
	case *wire.FileReady:
		return m.ID == id
	case *wire.FileChunk:
		return m.ID == id
	case *wire.FileDone:
		return m.ID == id
	case *wire.FileAck:
		return m.ID == id
	case *wire.FileCancel:
		return m.ID == id
	}
	return false
}

// next waits for the request's next message; a host Error is returned as
// the error (a *wire.Error: errors.As gives its Code).
func (f *Files) next(ctx context.Context, op *fileOp) (wire.Message, error) {
	select {
	case m := <-op.in:
		switch m := m.(type) {
		case *wire.Error:
			return nil, m
		case *wire.FileCancel:
			return nil, fmt.Errorf("guest: the host cancelled the transfer: %s", m.Reason)
		}
		return m, nil
	case <-f.s.done:
		return nil, f.s.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// List returns the entries of a folder on the host ("" is the transfer root).
func (f *Files) List(ctx context.Context, path string) (*wire.FileListing, error) {
	op := f.begin()
	defer f.end(op)
	if err := f.ch.Send(&wire.FileList{ID: op.id, Path: path}); err != nil {
		return nil, err
	}
	m, err := f.next(ctx, op)
	if err != nil {
		return nil, fmt.Errorf("guest: list %q: %w", path, err)
	}
	l, ok := m.(*wire.FileListing)
	if !ok {
		return nil, fmt.Errorf("guest: list %q: unexpected reply 0x%02x", path, uint8(m.Type()))
	}
	return l, nil
}

// Put uploads the local file to remotePath on the host. The host writes a
// part file and keeps the result only if its sha256 matches; with Resume,
// the upload continues from the host's part file.
func (f *Files) Put(ctx context.Context, localPath, remotePath string, o TransferOptions) (*TransferStats, error) {
	fail := func(err error) (*TransferStats, error) {
		return nil, fmt.Errorf("guest: put %s → %s: %w", localPath, remotePath, err)
	}
	file, err := os.Open(localPath)
	if err != nil {
		return fail(err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return fail(errors.New("not a regular file"))
	}
	size := fi.Size()
	h := sha256.New()
	if n, err := io.Copy(h, file); err != nil || n != size {
		return fail(fmt.Errorf("reading: %v (file changed?)", err))
	}
	st := &TransferStats{Size: size}
	h.Sum(st.SHA256[:0])

	op := f.begin()
	defer f.end(op)
	var flags uint8
	if o.Resume {
		flags |= wire.FileResume
	}
	if o.Overwrite {
		flags |= wire.FileOverwrite
	}
	if err := f.ch.Send(&wire.FileOpen{ID: op.id, Dir: wire.FilePut, Flags: flags, Path: remotePath,
		Size: uint64(size), SHA256: st.SHA256}); err != nil {
		return fail(err)
	}
	m, err := f.next(ctx, op)
	if err != nil {
		return fail(err)
	}
	ready, ok := m.(*wire.FileReady)
	if !ok || ready.Size != uint64(size) {
		return fail(fmt.Errorf("unexpected reply %#v", m))
	}
	st.ResumedFrom = int64(ready.Offset)
	if _, err := file.Seek(st.ResumedFrom, io.SeekStart); err != nil {
		return fail(err)
	}
	progress(o, st.ResumedFrom, size)
	buf := make([]byte, wire.MaxFileChunk)
	for pos := st.ResumedFrom; pos < size; {
		if err := f.ch.WaitBuffered(ctx, filesHighWater); err != nil {
			return fail(f.cancel(op, err))
		}
		select { // a refusal mid-upload (disk full, ...) stops it at once
		case m := <-op.in:
			if e, ok := m.(*wire.Error); ok {
				return fail(e)
			}
		default:
		}
		if ctx.Err() != nil {
			return fail(f.cancel(op, ctx.Err()))
		}
		n, err := io.ReadFull(file, buf[:min(int64(len(buf)), size-pos)])
		if err != nil {
			return fail(f.cancel(op, fmt.Errorf("reading: %w (file changed?)", err)))
		}
		if err := f.ch.Send(&wire.FileChunk{ID: op.id, Offset: uint64(pos), Data: buf[:n]}); err != nil {
			return fail(err)
		}
		pos += int64(n)
		st.Transferred += int64(n)
		progress(o, pos, size)
	}
	if err := f.ch.Send(&wire.FileDone{ID: op.id, Size: uint64(size), SHA256: st.SHA256}); err != nil {
		return fail(err)
	}
	for {
		m, err := f.next(ctx, op)
		if err != nil {
			var we *wire.Error
			if errors.As(err, &we) && we.Code == wire.ErrCodeChecksum {
				err = fmt.Errorf("%w: %v", ErrChecksum, we)
			}
			return fail(err)
		}
		if ack, ok := m.(*wire.FileAck); ok {
			if ack.SHA256 != st.SHA256 || ack.Size != uint64(size) {
				return fail(fmt.Errorf("%w: the host verified %s", ErrChecksum, hex.EncodeToString(ack.SHA256[:])))
			}
			return st, nil
		}
	}
}

// cancel tells the host to stop the transfer and returns why.
func (f *Files) cancel(op *fileOp, why error) error {
	_ = f.ch.Send(&wire.FileCancel{ID: op.id, Reason: why.Error()})
	return why
}

func progress(o TransferOptions, done, total int64) {
	if o.Progress != nil {
		o.Progress(done, total)
	}
}

// Get downloads remotePath from the host to localPath, through
// localPath+PartSuffix, renamed into place once the host's sha256 matches.
// With Resume, it continues from an existing part file.
func (f *Files) Get(ctx context.Context, remotePath, localPath string, o TransferOptions) (*TransferStats, error) {
	fail := func(err error) (*TransferStats, error) {
		return nil, fmt.Errorf("guest: get %s → %s: %w", remotePath, localPath, err)
	}
	if _, err := os.Lstat(localPath); err == nil && !o.Overwrite {
		return fail(fmt.Errorf("%s exists (ask to overwrite it)", localPath))
	}
	part := localPath + PartSuffix
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	keep := true
	defer func() {
		file.Close()
		if !keep {
			os.Remove(part)
		}
	}()
	st := &TransferStats{}
	h := sha256.New()
	if o.Resume {
		if fi, err := file.Stat(); err == nil {
			st.ResumedFrom = fi.Size()
		}
		if _, err := io.CopyN(h, file, st.ResumedFrom); err != nil {
			return fail(err)
		}
	}
	if err := file.Truncate(st.ResumedFrom); err != nil {
		return fail(err)
	}
	if _, err := file.Seek(st.ResumedFrom, io.SeekStart); err != nil {
		return fail(err)
	}

	op := f.begin()
	defer f.end(op)
	if err := f.ch.Send(&wire.FileOpen{ID: op.id, Dir: wire.FileGet, Path: remotePath, Offset: uint64(st.ResumedFrom)}); err != nil {
		return fail(err)
	}
	m, err := f.next(ctx, op)
	if err != nil {
		return fail(err)
	}
	ready, ok := m.(*wire.FileReady)
	if !ok || ready.Offset != uint64(st.ResumedFrom) {
		return fail(fmt.Errorf("unexpected reply %#v", m))
	}
	st.Size = int64(ready.Size)
	progress(o, st.ResumedFrom, st.Size)
	pos := st.ResumedFrom
	for {
		m, err := f.next(ctx, op)
		if err != nil {
			if ctx.Err() != nil {
				err = f.cancel(op, err)
			}
			return fail(err)
		}
		switch m := m.(type) {
		case *wire.FileChunk:
			if m.Offset != uint64(pos) || pos+int64(len(m.Data)) > st.Size {
				return fail(f.cancel(op, fmt.Errorf("the host sent bytes at %d, expected %d", m.Offset, pos)))
			}
			if _, err := file.Write(m.Data); err != nil {
				return fail(f.cancel(op, err))
			}
			h.Write(m.Data)
			pos += int64(len(m.Data))
			st.Transferred += int64(len(m.Data))
			progress(o, pos, st.Size)
		case *wire.FileDone:
			return f.finishGet(file, h, m, st, pos, localPath, part, o, &keep, fail)
		}
	}
}

func (f *Files) finishGet(file *os.File, h hash.Hash, d *wire.FileDone, st *TransferStats, pos int64, localPath, part string,
	o TransferOptions, keep *bool, fail func(error) (*TransferStats, error)) (*TransferStats, error) {
	h.Sum(st.SHA256[:0])
	if pos != st.Size || d.Size != uint64(st.Size) {
		return fail(fmt.Errorf("the host ended at %d of %d bytes", pos, st.Size))
	}
	if st.SHA256 != d.SHA256 {
		*keep = false // wrong bytes somewhere: a resume cannot fix that
		return fail(fmt.Errorf("%w: received %s, the host's file has %s; nothing was saved", ErrChecksum,
			hex.EncodeToString(st.SHA256[:]), hex.EncodeToString(d.SHA256[:])))
	}
	if err := file.Sync(); err != nil {
		return fail(err)
	}
	if !o.Overwrite {
		if _, err := os.Lstat(localPath); err == nil {
			return fail(fmt.Errorf("%s appeared during the download; nothing was overwritten", localPath))
		}
	}
	_ = file.Close() // Windows renames only closed files
	if err := os.Rename(part, localPath); err != nil {
		return fail(err)
	}
	return st, nil
}
