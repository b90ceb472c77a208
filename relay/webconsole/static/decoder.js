// The browser's decoder of capture/codec payload version 2 (see
// capture/codec/doc.go, "The browser's door"). It mirrors the Go decoder
// op for op: the screen is an RGBA buffer (alpha 255) the ops write into;
// the zstd stream spanning a keyframe and its deltas goes through fzstd's
// streaming Decompress; JPEG ops go through the browser's own decoder.
// Golden frames from the Go encoder (webconsole's golden test) keep the
// two decoders identical.

import { Decompress } from './vendor/fzstd.js';

const MAGIC = 0x54, VERSION2 = 2, HEADER = 9;
const FLAG_KEY = 0x01, FLAG_PREDICT = 0x02;
const OP_COPY = 1, OP_FILL = 2, OP_RAW = 3, OP_PALETTE = 4, OP_RECT = 5, OP_JPEG = 6, OP_ATLAS = 7;
const MIN_TILE = 16, MAX_TILE = 256, MAX_WORK = 4;

export class CodecError extends Error {}
// NeedKeyframe: no usable stream state (none yet, or lost after an error);
// ask the host for a keyframe.
export class NeedKeyframe extends CodecError {}

// Reader over the op list: throws on truncation, like the Go reader's error.
class Reader {
  constructor(b, off) { this.b = b; this.i = off; }
  byte() {
    if (this.i >= this.b.length) throw new CodecError('truncated op list');
    return this.b[this.i++];
  }
  uvarint() {
    // At most 10 bytes; values past 2^53 are rejected (no screen needs them).
    let v = 0, mul = 1;
    for (let k = 0; k < 10; k++) {
      const c = this.byte();
      v += (c & 0x7f) * mul;
      if (c < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) throw new CodecError('varint overflow');
        return v;
      }
      mul *= 128;
    }
    throw new CodecError('varint overflow');
  }
  varint() {
    const u = this.uvarint();
    // zigzag: even → u/2, odd → -(u+1)/2
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }
  u32() {
    if (this.i + 4 > this.b.length) throw new CodecError('truncated raw length');
    const b = this.b, i = this.i;
    this.i += 4;
    return ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
  }
}

export class Decoder {
  // jpeg(bytes, w, h) → Promise<Uint8ClampedArray RGBA of w*h>; the
  // default uses createImageBitmap and an OffscreenCanvas.
  constructor({ maxWidth = 8192, maxHeight = 8192, jpeg = decodeJPEG } = {}) {
    this.maxWidth = maxWidth;
    this.maxHeight = maxHeight;
    this.jpeg = jpeg;
    this.w = 0; this.h = 0; this.ts = 0; this.tilesX = 0; this.tilesY = 0;
    this.pix = null; // Uint8ClampedArray w*h*4
    this.ok = false;
    this.needReset = false;
    this.z = null; // fzstd Decompress
    this.raw = null; this.rawN = 0; // this payload's raw data as it arrives
    this.rawBuf = new Uint8Array(0);
    this.copyPaths = { sweep: 0, snapshot: 0 }; // payloads with COPY ops, by how they were applied
    this.zstdMs = 0; // the last payload's zstd time
  }

  // decode applies one payload and returns {keyframe, copies: the COPY
  // ops [[x,y,w,h,sx,sy]…], rects: [[x,y,w,h]…] the tiles the other ops
  // changed, jpeg: the JPEG ops' rectangles}. After any error the stream state is lost
  // and every delta throws NeedKeyframe until the next keyframe.
  async decode(p) {
    try {
      return await this._decode(p);
    } catch (e) {
      this.ok = false;
      this.z = null;
      throw e instanceof CodecError ? e : new CodecError(String(e && e.message || e));
    }
  }

  async _decode(p) {
    if (p.length < HEADER + 4) throw new CodecError('payload shorter than a header');
    if (p[0] !== MAGIC || p[1] !== VERSION2) throw new CodecError(`magic ${p[0]} version ${p[1]}: not a version-2 payload`);
    const flags = p[2];
    if (flags & ~(FLAG_KEY | FLAG_PREDICT)) throw new CodecError(`unknown flags ${flags}`);
    const key = (flags & FLAG_KEY) !== 0, predict = (flags & FLAG_PREDICT) !== 0;
    const w = (p[3] << 8) | p[4], h = (p[5] << 8) | p[6], ts = (p[7] << 8) | p[8];
    if (w === 0 || h === 0) throw new CodecError('empty screen');
    if (w > this.maxWidth || h > this.maxHeight) throw new CodecError(`${w}x${h} screen over the limit`);
    if (ts < MIN_TILE || ts > MAX_TILE) throw new CodecError(`tile size ${ts}`);
    const tilesX = Math.ceil(w / ts), tilesY = Math.ceil(h / ts), n = tilesX * tilesY;
    const tileX = (t) => (t % tilesX) * ts, tileY = (t) => Math.floor(t / tilesX) * ts;
    const tileW = (t) => Math.min(ts, w - tileX(t)), tileH = (t) => Math.min(ts, h - tileY(t));

    // Parse and validate the op list before touching the screen.
    const r = new Reader(p, HEADER);
    const count = r.uvarint();
    if (count === 0 || count > p.length - r.i) throw new CodecError('bad op count');
    let budget = MAX_WORK * w * h, copyBudget = w * h, next = 0, tileOps = false, rawLen = 0;
    const ops = [];
    const inScreen = (x, y, cw, ch) => cw > 0 && ch > 0 && x < w && y < h && cw <= w - x && ch <= h - y;
    for (let k = 0; k < count; k++) {
      const kind = r.byte();
      // One shape for every op keeps the loops below monomorphic.
      const op = { kind, x: 0, y: 0, cw: 0, ch: 0, sx: 0, sy: 0, tile: 0, count: 0, n: 0, rgb: null, data: null, pieces: null };
      switch (kind) {
        case OP_COPY: {
          if (key) throw new CodecError('copy in a keyframe');
          if (tileOps) throw new CodecError('copy after a tile op');
          const x = r.uvarint(), y = r.uvarint(), cw = r.uvarint(), ch = r.uvarint();
          const sx = r.varint(), sy = r.varint();
          if (!inScreen(x, y, cw, ch) || sx <= -w || sx >= w || sy <= -h || sy >= h) throw new CodecError('copy rectangle outside the screen');
          if (x + sx < 0 || y + sy < 0 || x + sx + cw > w || y + sy + ch > h) throw new CodecError('copy source outside the screen');
          op.x = x; op.y = y; op.cw = cw; op.ch = ch; op.sx = sx; op.sy = sy;
          budget -= cw * ch;
          copyBudget -= cw * ch;
          if (copyBudget < 0) throw new CodecError('copies cover more than the screen');
          break;
        }
        case OP_RECT: {
          if (key) throw new CodecError('rectangle in a keyframe');
          tileOps = true;
          const x = r.uvarint(), y = r.uvarint(), cw = r.uvarint(), ch = r.uvarint();
          if (!inScreen(x, y, cw, ch) || cw > ts || ch > ts) throw new CodecError('rectangle outside the screen or larger than a tile');
          op.x = x; op.y = y; op.cw = cw; op.ch = ch;
          budget -= cw * ch;
          rawLen += cw * ch * 3;
          break;
        }
        case OP_JPEG: {
          if (key) throw new CodecError('JPEG in a keyframe');
          tileOps = true;
          const x = r.uvarint(), y = r.uvarint(), cw = r.uvarint(), ch = r.uvarint(), l = r.uvarint();
          if (!inScreen(x, y, cw, ch)) throw new CodecError('JPEG rectangle outside the screen');
          if (l === 0 || l > p.length - r.i) throw new CodecError('truncated JPEG');
          op.x = x; op.y = y; op.cw = cw; op.ch = ch; op.data = p.subarray(r.i, r.i + l);
          r.i += l;
          budget -= cw * ch;
          break;
        }
        case OP_ATLAS: {
          // Pieces of one JPEG (in the raw data) packed on shelves; only
          // their sizes are sent, both sides pack alike (packShelves).
          if (key) throw new CodecError('atlas in a keyframe');
          tileOps = true;
          const aw = r.uvarint(), np = r.uvarint();
          if (aw === 0 || aw > w || np === 0 || np > p.length - r.i) throw new CodecError(`${aw}-wide atlas with ${np} pieces`);
          const pieces = [];
          let lx = 0, ly = 0, ax = 0, ay = 0, shelf = 0;
          for (let i = 0; i < np; i++) {
            const x = lx + r.varint(), y = ly + r.varint(), cw = r.uvarint() + 1, ch = r.uvarint() + 1;
            if (x < 0 || y < 0 || !inScreen(x, y, cw, ch) || cw > aw) throw new CodecError('atlas piece outside the screen or wider than the atlas');
            lx = x; ly = y;
            if (ax + cw > aw) { ax = 0; ay += shelf; shelf = 0; }
            pieces.push([x, y, cw, ch, ax, ay]);
            ax += cw; shelf = Math.max(shelf, ch);
            budget -= cw * ch;
            if (budget < 0) throw new CodecError(`ops write more than ${MAX_WORK} screens`);
          }
          let cwMax = 0;
          for (const pc of pieces) cwMax = Math.max(cwMax, pc[4] + pc[2]);
          const ah = ay + shelf;
          if (cwMax !== aw || ah > h || aw * ah > w * h) throw new CodecError(`${aw}x${ah} atlas packs ${cwMax} wide`);
          budget -= cwMax * ah;
          const l = r.uvarint();
          if (l === 0 || l > cwMax * ah * 3 + 2048) throw new CodecError(`${l}-byte atlas JPEG`);
          op.cw = cwMax; op.ch = ah; op.n = l; op.pieces = pieces;
          rawLen += l;
          break;
        }
        case OP_FILL: case OP_RAW: case OP_PALETTE: {
          tileOps = true;
          const skip = r.uvarint();
          let c = 1;
          if (kind === OP_PALETTE) op.n = r.byte() + 1;
          else c = r.uvarint() + 1;
          if (kind === OP_FILL) op.rgb = [r.byte(), r.byte(), r.byte()];
          if (skip >= n - next || c > n - next - skip) throw new CodecError(`tile run past ${n} tiles`);
          op.tile = next + skip;
          op.count = c;
          next = op.tile + c;
          for (let t = op.tile; t < next; t++) {
            const px = tileW(t) * tileH(t);
            budget -= px;
            if (kind === OP_RAW) rawLen += px * 3;
            else if (kind === OP_PALETTE) rawLen += op.n * 3 + px;
          }
          break;
        }
        default:
          throw new CodecError(`unknown op ${kind}`);
      }
      if (budget < 0) throw new CodecError(`ops write more than ${MAX_WORK} screens`);
      ops.push(op);
    }
    const declared = r.u32();
    if (declared !== rawLen) throw new CodecError(`raw length ${declared}, ops need ${rawLen}`);
    const z = p.subarray(r.i);
    if ((z.length === 0) !== (rawLen === 0)) throw new CodecError(`${z.length} bytes of zstd data for ${rawLen} raw bytes`);

    // Screen state.
    if (!key) {
      if (!this.ok) throw new NeedKeyframe('need a keyframe');
      if (w !== this.w || h !== this.h || ts !== this.ts) throw new CodecError('delta for another screen size');
    } else {
      if (!this.pix || this.w !== w || this.h !== h) {
        // One buffer holds the screen and, after it, room for the
        // snapshot COPY ops may read from: rows move between the two with
        // copyWithin, which allocates nothing (a subarray per row made a
        // scroll spend a third of its time collecting garbage).
        this.mem = new Uint8Array(w * h * 8);
        this.pix = new Uint8ClampedArray(this.mem.buffer, 0, w * h * 4);
      }
      this.w = w; this.h = h; this.ts = ts; this.tilesX = tilesX; this.tilesY = tilesY;
      this.ok = true;
      this.needReset = true;
    }

    // The raw data: the zstd part decompresses to exactly rawLen bytes.
    let raw = null;
    this.zstdMs = 0;
    if (rawLen > 0) {
      if (this.needReset || !this.z) {
        if (!this.needReset) throw new NeedKeyframe('zstd stream lost');
        this.z = new Decompress((chunk) => this._onRaw(chunk));
        this.needReset = false;
      }
      if (this.rawBuf.length < rawLen) this.rawBuf = new Uint8Array(Math.max(rawLen, this.rawBuf.length * 2));
      this.raw = this.rawBuf; this.rawN = 0; this.rawWant = rawLen;
      const t0 = performance.now();
      this.z.push(z, false);
      this.zstdMs = performance.now() - t0;
      if (this.rawN !== rawLen) throw new CodecError(`zstd part gave ${this.rawN} bytes, ops need ${rawLen}`);
      raw = this.rawBuf;
    }

    // Apply the ops. Writes go through a Uint8Array view: the values are
    // bytes already, and a clamped array's stores cost more.
    const pix = this.mem, stride = w * 4, size = w * h * 4;
    const dirty = new Uint8Array(n);
    const markRect = (x, y, cw, ch) => {
      for (let ty = Math.floor(y / ts); ty * ts < y + ch; ty++)
        for (let tx = Math.floor(x / ts); tx * ts < x + cw; tx++) dirty[ty * tilesX + tx] = 1;
    };
    // COPY ops (first in the list) read the screen as it was before the
    // payload. A scroll (or a moved window) moves every rectangle by one
    // vertical vector: a sweep over the rows, in the vector's order, reads
    // each source row before any copy overwrites it, so rows move in
    // place. Other copies go through the snapshot area. They are also
    // returned apart for the painter.
    const cops = [], copies = [];
    for (const op of ops) { if (op.kind !== OP_COPY) break; cops.push(op); copies.push([op.x, op.y, op.cw, op.ch, op.sx, op.sy]); }
    const sweep = cops.length > 0 && cops[0].sy !== 0 && cops.every((op) => op.sx === cops[0].sx && op.sy === cops[0].sy);
    if (cops.length) this.copyPaths[sweep ? 'sweep' : 'snapshot']++;
    if (sweep) {
      // The rows with the copies that cover each (a scroll of tiles is
      // hundreds of rectangles), in op order within a row.
      const sy = cops[0].sy, down = sy > 0;
      const order = cops.map((op, i) => i).sort((a, b) => down ? cops[a].y - cops[b].y : (cops[b].y + cops[b].ch) - (cops[a].y + cops[a].ch));
      const active = [];
      let next = 0;
      let y = down ? cops[order[0]].y : cops[order[0]].y + cops[order[0]].ch - 1;
      while (next < order.length || active.length) {
        if (!active.length) {
          const op = cops[order[next]];
          y = down ? Math.max(y, op.y) : Math.min(y, op.y + op.ch - 1);
        }
        let added = false;
        while (next < order.length && (down ? cops[order[next]].y <= y : cops[order[next]].y + cops[order[next]].ch - 1 >= y)) {
          active.push(order[next++]);
          added = true;
        }
        if (added) active.sort((a, b) => a - b); // op order
        let keep = 0;
        for (let k = 0; k < active.length; k++) {
          const op = cops[active[k]];
          if (y < op.y || y >= op.y + op.ch) continue; // done
          const s = (y + sy) * stride + (op.x + op.sx) * 4;
          pix.copyWithin(y * stride + op.x * 4, s, s + op.cw * 4);
          active[keep++] = active[k];
        }
        active.length = keep;
        y += down ? 1 : -1;
      }
    } else if (cops.length) {
      let o = size;
      for (const op of cops) {
        const rb = op.cw * 4;
        for (let y = op.y + op.sy; y < op.y + op.sy + op.ch; y++, o += rb) {
          const s = y * stride + (op.x + op.sx) * 4;
          pix.copyWithin(o, s, s + rb);
        }
      }
      o = size;
      for (const op of cops) {
        const rb = op.cw * 4;
        for (let y = op.y; y < op.y + op.ch; y++, o += rb) pix.copyWithin(y * stride + op.x * 4, o, o + rb);
      }
    }
    let ro = 0;
    const jpegs = [];
    for (const op of ops) {
      switch (op.kind) {
        case OP_COPY:
          break; // done above
        case OP_JPEG: {
          const rgba = await this.jpeg(op.data, op.cw, op.ch);
          if (!rgba || rgba.length !== op.cw * op.ch * 4) throw new CodecError('JPEG of the wrong size');
          const rb = op.cw * 4;
          for (let y = 0; y < op.ch; y++) pix.set(rgba.subarray(y * rb, y * rb + rb), (op.y + y) * stride + op.x * 4);
          markRect(op.x, op.y, op.cw, op.ch);
          jpegs.push([op.x, op.y, op.cw, op.ch]);
          break;
        }
        case OP_ATLAS: {
          // Copied out of the raw buffer: the Blob must not see it change.
          const rgba = await this.jpeg(raw.slice(ro, ro + op.n), op.cw, op.ch);
          ro += op.n;
          if (!rgba || rgba.length !== op.cw * op.ch * 4) throw new CodecError('atlas JPEG of the wrong size');
          const ab = op.cw * 4;
          for (const [x, y, cw, ch, ax, ay] of op.pieces) {
            for (let yy = 0; yy < ch; yy++) {
              const s = (ay + yy) * ab + ax * 4;
              pix.set(rgba.subarray(s, s + cw * 4), (y + yy) * stride + x * 4);
            }
            markRect(x, y, cw, ch);
            jpegs.push([x, y, cw, ch]);
          }
          break;
        }
        case OP_RECT:
          putRaw(pix, stride, op.x, op.y, op.cw, op.ch, raw, ro, predict);
          ro += op.cw * op.ch * 3;
          markRect(op.x, op.y, op.cw, op.ch);
          break;
        case OP_FILL: {
          const cr = op.rgb[0], cg = op.rgb[1], cb = op.rgb[2];
          for (let t = op.tile; t < op.tile + op.count; t++) {
            dirty[t] = 1;
            const x = tileX(t), y = tileY(t), tw = tileW(t), th = tileH(t);
            const row = y * stride + x * 4;
            for (let i = 0; i < tw * 4; i += 4) { pix[row + i] = cr; pix[row + i + 1] = cg; pix[row + i + 2] = cb; pix[row + i + 3] = 255; }
            const first = pix.subarray(row, row + tw * 4);
            for (let yy = 1; yy < th; yy++) pix.set(first, row + yy * stride);
          }
          break;
        }
        case OP_RAW:
          for (let t = op.tile; t < op.tile + op.count; t++) {
            dirty[t] = 1;
            const x = tileX(t), y = tileY(t), tw = tileW(t), th = tileH(t);
            putRaw(pix, stride, x, y, tw, th, raw, ro, predict);
            ro += tw * th * 3;
          }
          break;
        case OP_PALETTE: {
          const t = op.tile, n = op.n;
          dirty[t] = 1;
          const x = tileX(t), y = tileY(t), tw = tileW(t), th = tileH(t);
          ro = putPalette(pix, stride, x, y, tw, th, raw, ro, n);
          break;
        }
      }
    }
    if (key) {
      for (let t = 0; t < n; t++) if (!dirty[t]) throw new CodecError(`keyframe leaves tile ${t} out`);
      return { keyframe: true, rects: [[0, 0, w, h]], copies: [], jpeg: jpegs };
    }
    // Changed tiles, merged into runs along each tile row.
    const rects = [];
    for (let ty = 0; ty < tilesY; ty++) {
      for (let tx = 0; tx < tilesX; tx++) {
        if (!dirty[ty * tilesX + tx]) continue;
        let end = tx;
        while (end + 1 < tilesX && dirty[ty * tilesX + end + 1]) end++;
        const x = tx * ts, y = ty * ts;
        rects.push([x, y, Math.min((end + 1) * ts, w) - x, Math.min(ts, h - y)]);
        tx = end;
      }
    }
    return { keyframe: false, rects, copies, jpeg: jpegs };
  }

  _onRaw(chunk) {
    // Copied at once: fzstd's block may alias its window.
    if (this.rawN + chunk.length > this.rawWant) throw new CodecError('zstd part longer than the ops need');
    this.raw.set(chunk, this.rawN);
    this.rawN += chunk.length;
  }
}

// putPalette writes a PALETTE tile: n colours, then one index per pixel.
// It returns the raw offset past the tile.
function putPalette(pix, stride, x, y, w, h, raw, off, n) {
  let i = off + n * 3;
  for (let yy = 0; yy < h; yy++) {
    let o = (y + yy) * stride + x * 4;
    for (let xx = 0; xx < w; xx++, i++, o += 4) {
      const c = raw[i];
      if (c >= n) throw new CodecError(`palette index ${c} of ${n}`);
      const q = off + c * 3;
      pix[o] = raw[q]; pix[o + 1] = raw[q + 1]; pix[o + 2] = raw[q + 2]; pix[o + 3] = 255;
    }
  }
  return i;
}

// putRaw writes a w×h rectangle's raw data (RGB, or MED residuals with
// PREDICT) at (x, y).
function putRaw(pix, stride, x, y, w, h, raw, off, predict) {
  let j = off;
  if (!predict) {
    for (let yy = 0; yy < h; yy++) {
      let o = (y + yy) * stride + x * 4;
      for (let xx = 0; xx < w; xx++, o += 4, j += 3) {
        pix[o] = raw[j]; pix[o + 1] = raw[j + 1]; pix[o + 2] = raw[j + 2]; pix[o + 3] = 255;
      }
    }
    return;
  }
  // Undo the MED filter (capture/codec/predict.go), all modulo 256: the
  // first row predicts from the left, the first column from above, the
  // rest from the median of left, above and above-left (inlined: the
  // hottest loop of a scroll).
  for (let yy = 0; yy < h; yy++) {
    let o = (y + yy) * stride + x * 4;
    for (let xx = 0; xx < w; xx++, j += 3, o += 4) {
      let pr, pg, pb;
      if (yy === 0) {
        if (xx === 0) { pr = 0; pg = 0; pb = 0; } else { pr = pix[o - 4]; pg = pix[o - 3]; pb = pix[o - 2]; }
      } else if (xx === 0) {
        pr = pix[o - stride]; pg = pix[o - stride + 1]; pb = pix[o - stride + 2];
      } else {
        const u = o - stride;
        let a = pix[o - 4], b = pix[u], c = pix[u - 4];
        pr = a > b ? (c >= a ? b : c <= b ? a : a + b - c) : (c >= b ? a : c <= a ? b : a + b - c);
        a = pix[o - 3]; b = pix[u + 1]; c = pix[u - 3];
        pg = a > b ? (c >= a ? b : c <= b ? a : a + b - c) : (c >= b ? a : c <= a ? b : a + b - c);
        a = pix[o - 2]; b = pix[u + 2]; c = pix[u - 2];
        pb = a > b ? (c >= a ? b : c <= b ? a : a + b - c) : (c >= b ? a : c <= a ? b : a + b - c);
      }
      const dg = raw[j + 1];
      pix[o] = (pr + raw[j] + dg) & 255;
      pix[o + 1] = (pg + dg) & 255;
      pix[o + 2] = (pb + raw[j + 2] + dg) & 255;
      pix[o + 3] = 255;
    }
  }
}

let scratch = null;

// decodeJPEG decodes a baseline JPEG with the browser's decoder, without
// colour management, into RGBA.
export async function decodeJPEG(bytes, w, h) {
  const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }),
    { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    if (bmp.width !== w || bmp.height !== h) throw new CodecError(`${bmp.width}x${bmp.height} JPEG for a ${w}x${h} rectangle`);
    if (!scratch || scratch.canvas.width < w || scratch.canvas.height < h) {
      const c = new OffscreenCanvas(Math.max(w, scratch ? scratch.canvas.width : 0), Math.max(h, scratch ? scratch.canvas.height : 0));
      scratch = c.getContext('2d', { willReadFrequently: true });
    }
    scratch.drawImage(bmp, 0, 0);
    return scratch.getImageData(0, 0, w, h).data;
  } finally {
    bmp.close();
  }
}
