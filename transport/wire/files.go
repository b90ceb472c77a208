package wire

import (
	"encoding/binary"
	"fmt"
)

// File transfer messages travel on ChannelFiles so file bytes never delay
// input or the screen. A guest runs one request at a time per session: an
// Error (whose Ref is a file message type) answers the request in progress.
//
// Put: guest FileOpen{Put} → host FileReady{Offset} → guest FileChunk… from
// Offset → guest FileDone{SHA256} → host FileAck (verified, in place) or Error.
// Get: guest FileOpen{Get, Offset} → host FileReady{Size} → host FileChunk…
// → host FileDone{SHA256}. Either side may send FileCancel.
const (
	TypeFileList    MsgType = 0x40 // guest → host: list a directory
	TypeFileListing MsgType = 0x41 // host → guest: the directory's entries
	TypeFileOpen    MsgType = 0x42 // guest → host: start a put or a get
	TypeFileReady   MsgType = 0x43 // host → guest: accepted; where to (re)start
	TypeFileChunk   MsgType = 0x44 // both ways: file bytes at an offset
	TypeFileDone    MsgType = 0x45 // sender → receiver: all sent, with the whole file's sha256
	TypeFileAck     MsgType = 0x46 // host → guest: upload verified and in place
	TypeFileCancel  MsgType = 0x47 // both ways: stop a transfer (an upload's part file is kept for resume)
)

// FileOpen directions and flags.
const (
	FilePut uint8 = 1 // guest → host
	FileGet uint8 = 2 // host → guest

	FileResume    uint8 = 1 // put: continue the host's partial upload
	FileOverwrite uint8 = 2 // put: replace an existing file
)

// File limits. A chunk plus its header fits one data-channel fragment.
const (
	MaxFileChunk   = MaxFragment - 1 - 1 - 4 - 8 // flag, type, id, offset
	MaxFileEntries = 1 << 16                     // entries in one listing
)

type (
	FileList struct {
		ID   uint32
		Path string // '/'-separated, relative to the host's transfer root; "" is the root
	}
	FileListing struct {
		ID        uint32
		Entries   []FileEntry
		Truncated bool // the directory has more than MaxFileEntries entries
	}
	FileEntry struct {
		Name    string
		Size    uint64
		Mode    uint32 // Unix permission bits plus FileModeDir / FileModeSymlink
		ModTime int64  // Unix seconds
	}
	FileOpen struct {
		ID     uint32
		Dir    uint8 // FilePut or FileGet
		Flags  uint8 // FileResume, FileOverwrite
		Path   string
		Size   uint64   // put: the whole file's size
		SHA256 [32]byte // put: the whole file's digest
		Offset uint64   // get: resume from here (the guest's partial file size)
	}
	FileReady struct {
		ID     uint32
		Offset uint64 // first byte the data will carry
		Size   uint64 // the whole file's size
	}
	FileChunk struct {
		ID     uint32
		Offset uint64
		Data   []byte // at most MaxFileChunk
	}
	FileDone struct {
		ID     uint32
		Size   uint64
		SHA256 [32]byte
	}
	FileAck struct {
		ID     uint32
		Size   uint64
		SHA256 [32]byte // as verified by the host
	}
	FileCancel struct {
		ID     uint32
		Reason string
	}
)

// FileEntry.Mode type bits (the permission bits are the low 9).
const (
	FileModeDir     uint32 = 1 << 31
	FileModeSymlink uint32 = 1 << 30
)

func (*FileList) Type() MsgType    { return TypeFileList }
func (*FileListing) Type() MsgType { return TypeFileListing }
func (*FileOpen) Type() MsgType    { return TypeFileOpen }
func (*FileReady) Type() MsgType   { return TypeFileReady }
func (*FileChunk) Type() MsgType   { return TypeFileChunk }
func (*FileDone) Type() MsgType    { return TypeFileDone }
func (*FileAck) Type() MsgType     { return TypeFileAck }
func (*FileCancel) Type() MsgType  { return TypeFileCancel }

// IsFileMessage reports whether t is a file transfer message.
func IsFileMessage(t MsgType) bool { return t >= TypeFileList && t <= TypeFileCancel }

func u32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func (m *FileList) appendBody(b []byte) []byte { return appendString(u32(b, m.ID), m.Path) }
func (m *FileList) decodeBody(r *reader) error {
	m.ID, m.Path = r.u32(), r.str(MaxString)
	return r.err
}

func (m *FileListing) appendBody(b []byte) []byte {
	n := min(len(m.Entries), MaxFileEntries)
	trunc := m.Truncated || n < len(m.Entries)
	b = appendBool(u32(b, m.ID), trunc)
	b = u32(b, uint32(n))
	for _, e := range m.Entries[:n] {
		b = appendString(b, e.Name)
		b = u64(b, e.Size)
		b = u32(b, e.Mode)
		b = u64(b, uint64(e.ModTime))
	}
	return b
}

func (m *FileListing) decodeBody(r *reader) error {
	m.ID, m.Truncated = r.u32(), r.bool()
	n := r.u32()
	if r.err == nil && n > MaxFileEntries {
		return fmt.Errorf("%d entries exceed %d", n, MaxFileEntries)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		var e FileEntry
		e.Name, e.Size, e.Mode, e.ModTime = r.str(MaxString), r.u64(), r.u32(), int64(r.u64())
		if r.err == nil {
			m.Entries = append(m.Entries, e)
		}
	}
	return r.err
}

func (m *FileOpen) appendBody(b []byte) []byte {
	b = append(u32(b, m.ID), m.Dir, m.Flags)
	b = appendString(b, m.Path)
	b = u64(b, m.Size)
	b = append(b, m.SHA256[:]...)
	return u64(b, m.Offset)
}

func (m *FileOpen) decodeBody(r *reader) error {
	m.ID, m.Dir, m.Flags, m.Path, m.Size = r.u32(), r.u8(), r.u8(), r.str(MaxString), r.u64()
	copy(m.SHA256[:], r.take(32))
	m.Offset = r.u64()
	if r.err == nil && m.Dir != FilePut && m.Dir != FileGet {
		return fmt.Errorf("file direction %d is neither put nor get", m.Dir)
	}
	if r.err == nil && m.Flags&^(FileResume|FileOverwrite) != 0 {
		return fmt.Errorf("unknown file flags 0x%02x", m.Flags)
	}
	return r.err
}

func (m *FileReady) appendBody(b []byte) []byte { return u64(u64(u32(b, m.ID), m.Offset), m.Size) }
func (m *FileReady) decodeBody(r *reader) error {
	m.ID, m.Offset, m.Size = r.u32(), r.u64(), r.u64()
	if r.err == nil && m.Offset > m.Size {
		return fmt.Errorf("offset %d beyond size %d", m.Offset, m.Size)
	}
	return r.err
}

func (m *FileChunk) appendBody(b []byte) []byte {
	d := m.Data
	if len(d) > MaxFileChunk {
		d = d[:MaxFileChunk]
	}
	return append(u64(u32(b, m.ID), m.Offset), d...)
}
func (m *FileChunk) decodeBody(r *reader) error {
	m.ID, m.Offset = r.u32(), r.u64()
	m.Data = r.rest() // aliases the input
	if r.err == nil && len(m.Data) > MaxFileChunk {
		return fmt.Errorf("chunk of %d bytes exceeds %d", len(m.Data), MaxFileChunk)
	}
	return r.err
}

func (m *FileDone) appendBody(b []byte) []byte {
	return append(u64(u32(b, m.ID), m.Size), m.SHA256[:]...)
}
func (m *FileDone) decodeBody(r *reader) error {
	m.ID, m.Size = r.u32(), r.u64()
	copy(m.SHA256[:], r.take(32))
	return r.err
}

func (m *FileAck) appendBody(b []byte) []byte { return (*FileDone)(m).appendBody(b) }
func (m *FileAck) decodeBody(r *reader) error { return (*FileDone)(m).decodeBody(r) }

func (m *FileCancel) appendBody(b []byte) []byte { return appendString(u32(b, m.ID), m.Reason) }
func (m *FileCancel) decodeBody(r *reader) error {
	m.ID, m.Reason = r.u32(), r.str(MaxString)
	return r.err
}
