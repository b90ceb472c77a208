// The screen worker: decodes the host's frames off the main thread and
// paints them onto the page's canvas (an OffscreenCanvas handed over at
// start), so input stays responsive while a large frame decodes.
//
// Messages in: {canvas} once; {frame: ArrayBuffer payload, seq, nano};
// {snapshot: id}. Out: {done: seq, nano, ms, w, h} after each frame;
// {needKeyframe: reason} after a payload it could not use; {snapshot: id,
// w, h, pix} with the canvas's pixels as painted.
import { Decoder, NeedKeyframe } from './decoder.js';
import { Painter } from './paint.js';

const dec = new Decoder();
let painter = null;
let broken = false; // waiting for a keyframe after an error
let queue = Promise.resolve();

self.onmessage = (e) => {
  const m = e.data;
  if (m.canvas) {
    painter = new Painter(m.canvas);
    return;
  }
  // One frame at a time, in order (JPEG decoding is asynchronous).
  queue = queue.then(() => handle(m));
};

async function handle(m) {
  if (m.snapshot !== undefined) {
    const c = painter && painter.canvas;
    if (!c || !dec.ok) {
      self.postMessage({ snapshot: m.snapshot, w: 0, h: 0 });
      return;
    }
    const pix = painter.ctx.getImageData(0, 0, c.width, c.height).data;
    self.postMessage({ snapshot: m.snapshot, w: c.width, h: c.height, pix }, [pix.buffer]);
    return;
  }
  if (!m.frame || !painter) return;
  const t0 = performance.now();
  let u;
  try {
    u = await dec.decode(new Uint8Array(m.frame));
  } catch (err) {
    // Ask once per break, not once per delta that follows it.
    if (!broken || !(err instanceof NeedKeyframe)) self.postMessage({ needKeyframe: String(err.message || err) });
    broken = true;
    return;
  }
  broken = false;
  painter.paint(dec, u);
  self.postMessage({ done: m.seq, nano: m.nano, ms: performance.now() - t0, w: dec.w, h: dec.h, keyframe: u.keyframe });
}
