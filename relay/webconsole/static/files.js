// File transfer over the "files" data channel, with the Host's protocol
// (transport/wire/files.go): the Host enforces the grant's file_transfer,
// its jail (names that leave its transfer folder are refused), sizes and
// resume; the browser keeps whole files in memory, so it bounds them
// itself (the desktop console streams larger ones from disk).
import * as wire from './wire.js';

// MAX_UPLOAD and MAX_DOWNLOAD bound what a browser tab holds at once: an
// upload is hashed whole (WebCrypto has no streaming SHA-256) and a
// download is assembled in memory before it is verified and saved.
export const MAX_UPLOAD = 256 << 20;
export const MAX_DOWNLOAD = 512 << 20;
const HIGH_WATER = 1 << 20; // upload bytes queued on the channel

export class TransferError extends Error {
  constructor(message, code = 0) { super(message); this.code = code; }
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const sha256 = async (buf) => new Uint8Array(await crypto.subtle.digest('SHA-256', buf));

// Files runs one request at a time (the Host's refusals name the message
// type, not the transfer), in order.
export class Files {
  constructor(channel) {
    this.dc = channel;
    this.dc.bufferedAmountLowThreshold = HIGH_WATER / 2;
    this.id = 0;
    this.cur = null; // {id, push(m)}
    this.queue = Promise.resolve();
  }

  // onMessage takes a decoded message of the files channel.
  onMessage(m) {
    const cur = this.cur;
    if (!cur) return; // the tail of a cancelled download
    if (m.type === wire.T.Error || m.id === cur.id) cur.push(m);
  }

  run(fn) {
    const p = this.queue.then(() => fn());
    this.queue = p.catch(() => {});
    return p;
  }

  begin() {
    const op = { id: ++this.id, msgs: [], waiter: null, cancelled: null };
    op.push = (m) => { if (op.waiter) { const w = op.waiter; op.waiter = null; w(m); } else op.msgs.push(m); };
    this.cur = op;
    return op;
  }

  // next is the request's next message; a refusal or cancel throws.
  async next(op) {
    const m = op.msgs.length ? op.msgs.shift() : await new Promise((r) => { op.waiter = r; });
    if (m.type === wire.T.Error) throw new TransferError(m.message, m.code);
    if (m.type === wire.T.FileCancel) throw new TransferError('the device cancelled the transfer: ' + m.reason);
    if (m.cancel) throw new TransferError('cancelled');
    return m;
  }

  send(msg) {
    if (this.dc.readyState !== 'open') throw new TransferError('the session is closed');
    wire.send(this.dc, msg);
  }

  // list resolves with a folder's entries ("" is the transfer folder).
  list(path) {
    return this.run(async () => {
      const op = this.begin();
      try {
        this.send(wire.fileList(op.id, path));
        const m = await this.next(op);
        if (m.type !== wire.T.FileListing) throw new TransferError('unexpected reply');
        return m;
      } finally { this.cur = null; }
    });
  }

  // put uploads a File (or Blob) to path; t is the transfer's record
  // ({done, total, status, cancel()}), updated as it goes.
  put(file, path, t, { overwrite = false } = {}) {
    return this.run(async () => {
      if (file.size > MAX_UPLOAD) throw new TransferError(`${file.name || path} is over the browser console's upload limit (${MAX_UPLOAD >> 20} MiB); use the desktop console`, wire.ERR_TOO_LARGE);
      t.status = 'hashing';
      const buf = new Uint8Array(await file.arrayBuffer());
      if (buf.length !== file.size) throw new TransferError('the file changed while it was read');
      const sum = await sha256(buf);
      const op = this.begin();
      t.cancel = (why = 'cancelled by the technician') => {
        op.cancelled = why;
        try { this.send(wire.fileCancel(op.id, why)); } catch { /* closed */ }
        op.push({ cancel: true });
      };
      try {
        // Resume: the Host continues its part file of an interrupted
        // upload (the whole file's digest decides at the end).
        this.send(wire.fileOpen(op.id, wire.FILE_PUT, wire.FILE_RESUME | (overwrite ? wire.FILE_OVERWRITE : 0), path, buf.length, sum, 0));
        const ready = await this.next(op);
        if (ready.type !== wire.T.FileReady || ready.size !== buf.length) throw new TransferError('unexpected reply');
        t.status = 'sending';
        t.total = buf.length;
        t.done = ready.offset;
        t.progress?.(t);
        for (let pos = ready.offset; pos < buf.length;) {
          while (this.dc.bufferedAmount > HIGH_WATER && !op.cancelled && !op.msgs.length) {
            await new Promise((r) => { this.dc.addEventListener('bufferedamountlow', r, { once: true }); setTimeout(r, 200); });
          }
          if (op.msgs.length || op.cancelled) await this.next(op); // a refusal mid-upload, or cancel: throws
          const n = Math.min(wire.MAX_FILE_CHUNK, buf.length - pos);
          this.send(wire.fileChunk(op.id, pos, buf.subarray(pos, pos + n)));
          pos += n;
          t.done = pos;
          t.progress?.(t);
        }
        this.send(wire.fileDone(op.id, buf.length, sum));
        t.status = 'verifying';
        for (;;) {
          const m = await this.next(op);
          if (m.type !== wire.T.FileAck) continue;
          if (hex(m.sha256) !== hex(sum) || m.size !== buf.length) throw new TransferError('the device verified other bytes', wire.ERR_CHECKSUM);
          t.status = 'done';
          return { size: buf.length, resumedFrom: ready.offset, sha256: hex(sum) };
        }
      } finally { this.cur = null; }
    });
  }

  // get downloads path; it resolves with {blob, size, sha256} once the
  // bytes match the Host's digest.
  get(path, t) {
    return this.run(async () => {
      const op = this.begin();
      t.cancel = (why = 'cancelled by the technician') => {
        op.cancelled = why;
        try { this.send(wire.fileCancel(op.id, why)); } catch { /* closed */ }
        op.push({ cancel: true });
      };
      try {
        this.send(wire.fileOpen(op.id, wire.FILE_GET, 0, path, 0, new Uint8Array(32), 0));
        const ready = await this.next(op);
        if (ready.type !== wire.T.FileReady || ready.offset !== 0) throw new TransferError('unexpected reply');
        if (ready.size > MAX_DOWNLOAD) {
          t.cancel('too large for the browser');
          throw new TransferError(`${path} is ${ready.size} bytes, over the browser console's download limit (${MAX_DOWNLOAD >> 20} MiB); use the desktop console`, wire.ERR_TOO_LARGE);
        }
        t.status = 'receiving';
        t.total = ready.size;
        t.done = 0;
        t.progress?.(t);
        const parts = [];
        for (;;) {
          const m = await this.next(op);
          if (m.type === wire.T.FileChunk) {
            if (m.offset !== t.done || t.done + m.data.length > ready.size) {
              t.cancel('bytes out of order');
              throw new TransferError(`the device sent bytes at ${m.offset}, expected ${t.done}`);
            }
            parts.push(m.data.slice());
            t.done += m.data.length;
            t.progress?.(t);
          } else if (m.type === wire.T.FileDone) {
            if (t.done !== ready.size || m.size !== ready.size) throw new TransferError(`the device ended at ${t.done} of ${ready.size} bytes`);
            const blob = new Blob(parts);
            const sum = await sha256(await blob.arrayBuffer());
            if (hex(sum) !== hex(m.sha256)) throw new TransferError('the received bytes do not match the device\'s file; nothing was saved', wire.ERR_CHECKSUM);
            t.status = 'done';
            return { blob, size: ready.size, sha256: hex(sum) };
          }
        }
      } finally { this.cur = null; }
    });
  }
}
