// The session messages of transport/wire the browser console speaks, and
// the data-channel framing (transport/wire/frag.go): every data-channel
// message starts with a flag byte, 0 for the last fragment of a message,
// 1 when more follow. Integers are big-endian; strings are a u16 length and
// UTF-8 bytes; key codes a u8 length.

export const T = {
  Hello: 0x01, Bye: 0x02, Error: 0x03, Ping: 0x04, Pong: 0x05, SessionInfo: 0x06, SelectMonitor: 0x07,
  ScreenFrame: 0x10, FrameAck: 0x11, KeyframeRequest: 0x12, CursorShape: 0x13, CursorPos: 0x14,
  MouseMove: 0x20, MouseButton: 0x21, MouseWheel: 0x22, Key: 0x23, KeyTap: 0x24, Text: 0x25,
  FileList: 0x40, FileListing: 0x41, FileOpen: 0x42, FileReady: 0x43, FileChunk: 0x44, FileDone: 0x45, FileAck: 0x46, FileCancel: 0x47,
  Chat: 0x50, PowerAction: 0x56, PowerDone: 0x57,
  ClipboardText: 0x60, ClipboardGet: 0x61, InputLock: 0x62, ScreenBlank: 0x63, LocalState: 0x64,
};

export const VERSION = 2;
export const ROLE_GUEST = 1;
export const CODEC_TILES_V2 = 2;
export const ERR_DENIED = 2;
// What this console decodes and handles; the host streams version-2
// payloads with PREDICT to it and sends the pointer beside the screen.
export const CAPS = ['screen.tiles.zstd.v2', 'screen.tiles.predict.v1', 'screen.tiles.motion.v1', 'input.v1', 'frag.v1',
  'cursor.v1', 'ping.v1', 'chat.v1', 'power.v1', 'clipboard.v1', 'files.v1'];

export const MAX_FRAGMENT = 64 << 10;
export const MAX_MESSAGE = 64 << 20;
// File transfer (transport/wire/files.go): a chunk and its header fill one
// fragment; FileOpen directions and flags; FileEntry mode bits.
export const MAX_FILE_CHUNK = MAX_FRAGMENT - 1 - 1 - 4 - 8;
export const FILE_PUT = 1, FILE_GET = 2, FILE_RESUME = 1, FILE_OVERWRITE = 2;
export const FILE_MODE_DIR = 0x80000000;
export const ERR_NOT_FOUND = 5, ERR_EXISTS = 6, ERR_TOO_LARGE = 7, ERR_CHECKSUM = 8;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

// Writer builds one message.
export class Writer {
  constructor(type) { this.b = [type]; }
  u8(v) { this.b.push(v & 255); return this; }
  u16(v) { this.b.push((v >> 8) & 255, v & 255); return this; }
  u32(v) { this.b.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255); return this; }
  u64(v) { // v: a BigInt
    const hi = Number((BigInt.asUintN(64, v) >> 32n) & 0xffffffffn), lo = Number(BigInt.asUintN(64, v) & 0xffffffffn);
    return this.u32(hi).u32(lo);
  }
  bool(v) { return this.u8(v ? 1 : 0); }
  bytes(a) { for (const x of a) this.b.push(x); return this; }
  str(s) { const a = enc.encode(s).subarray(0, 4096); return this.u16(a.length).bytes(a); }
  code(s) { const a = enc.encode(s).subarray(0, 64); return this.u8(a.length).bytes(a); }
  strs(l) { this.u8(l.length); for (const s of l) this.str(s); return this; }
  done() { return Uint8Array.from(this.b); }
}

// Reader decodes one message body; it throws on truncation.
export class Reader {
  constructor(b, off = 1) { this.b = b; this.i = off; this.v = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  need(n) { if (this.i + n > this.b.length) throw new Error('truncated message'); }
  u8() { this.need(1); return this.b[this.i++]; }
  u16() { this.need(2); const v = this.v.getUint16(this.i); this.i += 2; return v; }
  i16() { this.need(2); const v = this.v.getInt16(this.i); this.i += 2; return v; }
  u32() { this.need(4); const v = this.v.getUint32(this.i); this.i += 4; return v; }
  i32() { this.need(4); const v = this.v.getInt32(this.i); this.i += 4; return v; }
  u64() { this.need(8); const v = this.v.getBigUint64(this.i); this.i += 8; return v; }
  bool() { const v = this.u8(); if (v > 1) throw new Error('bad bool'); return v === 1; }
  take(n) { this.need(n); const v = this.b.subarray(this.i, this.i + n); this.i += n; return v; }
  str() { return dec.decode(this.take(this.u16())); }
  strs() { const n = this.u8(), l = []; for (let k = 0; k < n; k++) l.push(this.str()); return l; }
  rest() { const v = this.b.subarray(this.i); this.i = this.b.length; return v; }
}

// decode turns one reassembled message into an object {type, ...}; unknown
// types come back as {type} only.
export function decode(b) {
  const r = new Reader(b);
  const type = b[0];
  switch (type) {
    case T.Hello: return { type, version: r.u16(), role: r.u8(), caps: r.strs() };
    case T.Bye: return { type, reason: r.str() };
    case T.Error: return { type, code: r.u16(), ref: r.u8(), message: r.str() };
    case T.Ping: case T.Pong: return { type, id: r.u32(), nano: r.u64() };
    case T.SessionInfo: {
      const permissions = r.strs(), technician = r.str(), n = r.u8(), monitors = [];
      for (let k = 0; k < n; k++) monitors.push({ name: r.str(), x: r.i32(), y: r.i32(), width: r.i32(), height: r.i32(), primary: r.bool() });
      return { type, permissions, technician, monitors, active: r.i16() };
    }
    case T.ScreenFrame: return { type, seq: r.u32(), nano: r.u64(), x: r.i32(), y: r.i32(), codec: r.u8(), data: r.rest() };
    case T.CursorShape: {
      const id = r.u32(), hotX = r.u16(), hotY = r.u16(), width = r.u16(), height = r.u16();
      if (!width || !height || width > 256 || height > 256) throw new Error('bad cursor size');
      return { type, id, hotX, hotY, width, height, pix: r.take(width * height * 4) };
    }
    case T.CursorPos: return { type, x: r.i32(), y: r.i32(), id: r.u32() };
    case T.Chat: return { type, seq: r.u32(), time: r.u64(), text: r.str() };
    case T.PowerDone: return { type, id: r.u32(), action: r.u8() };
    case T.ClipboardText: { const n = r.u32(); return { type, text: dec.decode(r.take(n)) }; }
    case T.LocalState: return { type, flags: r.u8() };
    case T.FileListing: {
      const id = r.u32(), truncated = r.bool(), n = r.u32(), entries = [];
      if (n > 1 << 16) throw new Error('too many entries');
      for (let k = 0; k < n; k++) entries.push({ name: r.str(), size: Number(r.u64()), mode: r.u32(), mtime: Number(r.u64()) });
      return { type, id, truncated, entries };
    }
    case T.FileReady: return { type, id: r.u32(), offset: Number(r.u64()), size: Number(r.u64()) };
    case T.FileChunk: {
      const id = r.u32(), offset = Number(r.u64()), data = r.rest();
      if (data.length > MAX_FILE_CHUNK) throw new Error('chunk too large');
      return { type, id, offset, data };
    }
    case T.FileDone: case T.FileAck: return { type, id: r.u32(), size: Number(r.u64()), sha256: r.take(32) };
    case T.FileCancel: return { type, id: r.u32(), reason: r.str() };
  }
  return { type };
}

export const hello = () => new Writer(T.Hello).u16(VERSION).u8(ROLE_GUEST).strs(CAPS).done();
export const bye = (reason) => new Writer(T.Bye).str(reason).done();
export const pong = (id, nano) => new Writer(T.Pong).u32(id).u64(nano).done();
export const ping = (id) => new Writer(T.Ping).u32(id).u64(BigInt(Math.round(performance.timeOrigin + performance.now())) * 1000000n).done();
export const frameAck = (seq, nano) => new Writer(T.FrameAck).u32(seq).u64(nano).done();
export const keyframeRequest = () => new Writer(T.KeyframeRequest).done();
export const selectMonitor = (i) => new Writer(T.SelectMonitor).u16(i & 0xffff).done();
export const mouseMove = (x, y) => new Writer(T.MouseMove).u32(x >>> 0).u32(y >>> 0).done();
export const mouseButton = (button, down) => new Writer(T.MouseButton).u8(button).bool(down).done();
export const mouseWheel = (dx, dy) => new Writer(T.MouseWheel).u16(dx & 0xffff).u16(dy & 0xffff).done();
export const key = (code, down) => new Writer(T.Key).bool(down).code(code).done();
export const chat = (seq, text) => new Writer(T.Chat).u32(seq).u64(BigInt(Date.now())).str(text).done();
export const powerAction = (id, action) => new Writer(T.PowerAction).u32(id).u8(action).done();
export const clipboardText = (text) => { const a = enc.encode(text); return new Writer(T.ClipboardText).u32(a.length).bytes(a).done(); };
export const clipboardGet = () => new Writer(T.ClipboardGet).done();
export const inputLock = (on) => new Writer(T.InputLock).bool(on).done();
export const screenBlank = (on) => new Writer(T.ScreenBlank).bool(on).done();
export const LOCAL_INPUT_LOCKED = 1, LOCAL_SCREEN_BLANKED = 2;
export const fileList = (id, path) => new Writer(T.FileList).u32(id).str(path).done();
export const fileOpen = (id, dir, flags, path, size, sha256, offset) =>
  new Writer(T.FileOpen).u32(id).u8(dir).u8(flags).str(path).u64(BigInt(size)).bytes(sha256).u64(BigInt(offset)).done();
export const fileDone = (id, size, sha256) => new Writer(T.FileDone).u32(id).u64(BigInt(size)).bytes(sha256).done();
export const fileCancel = (id, reason) => new Writer(T.FileCancel).u32(id).str(reason).done();
// fileChunk is built directly: a byte-by-byte Writer is too slow for 64 KiB.
export function fileChunk(id, offset, data) {
  const b = new Uint8Array(1 + 4 + 8 + data.length), v = new DataView(b.buffer);
  b[0] = T.FileChunk;
  v.setUint32(1, id);
  v.setBigUint64(5, BigInt(offset));
  b.set(data, 13);
  return b;
}

// send writes one message on a data channel in fragments.
export function send(dc, msg) {
  const chunk = MAX_FRAGMENT - 1;
  for (let off = 0; ; off += chunk) {
    const n = Math.min(chunk, msg.length - off);
    const f = new Uint8Array(n + 1);
    f[0] = off + n < msg.length ? 1 : 0;
    f.set(msg.subarray(off, off + n), 1);
    dc.send(f);
    if (f[0] === 0) return;
  }
}

// Reassembler rebuilds messages from fragments (bounded by MAX_MESSAGE).
export class Reassembler {
  constructor(max = MAX_MESSAGE) { this.max = max; this.parts = []; this.n = 0; this.bad = false; }
  // push returns the message a fragment completes, or null.
  push(frag) {
    if (frag.length === 0) throw new Error('empty fragment');
    const flag = frag[0], data = frag.subarray(1);
    if (flag > 1) { this.parts = []; this.n = 0; this.bad = false; throw new Error('bad fragment flag'); }
    if (this.bad) { if (flag === 0) this.bad = false; return null; }
    if (this.n + data.length > this.max) { this.parts = []; this.n = 0; this.bad = flag === 1; throw new Error('message too large'); }
    if (flag === 0 && this.n === 0) return data;
    this.parts.push(data);
    this.n += data.length;
    if (flag === 1) return null;
    const m = new Uint8Array(this.n);
    let o = 0;
    for (const p of this.parts) { m.set(p, o); o += p.length; }
    this.parts = []; this.n = 0;
    return m;
  }
}
