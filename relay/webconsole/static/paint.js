// Painter puts a Decoder's changes onto a canvas (an OffscreenCanvas in
// the worker) from one ImageData over the decoder's own buffer (no copy),
// with putImageData's dirty rectangle per changed region: the moved
// rectangles of COPY ops, then the tiles the other ops changed.
//
// Measured in headless Chromium (software canvas, 1080p): allocating an
// ImageData per region costs 11–16 ms for a 1920×64 strip (a scroll
// repainted that way took ~50 ms a frame), putImageData of a reused
// screen-sized ImageData 0.5–2.7 ms, a dirty rectangle of it next to
// nothing; drawImage of the canvas onto itself (to move a scroll's pixels)
// 170–200 ms, so COPY ops are repainted, not moved.
export class Painter {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.full = null;
  }

  paint(dec, update) {
    const { w, h, pix } = dec;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.full = null;
    }
    if (!this.full || this.full.data !== pix) this.full = new ImageData(pix, w, h);
    if (update.keyframe) {
      this.ctx.putImageData(this.full, 0, 0);
      return;
    }
    for (const [x, y, rw, rh] of update.copies || []) this.ctx.putImageData(this.full, 0, 0, x, y, rw, rh);
    for (const [x, y, rw, rh] of update.rects) this.ctx.putImageData(this.full, 0, 0, x, y, rw, rh);
  }
}
