// Painter puts a Decoder's changed rectangles onto a canvas (an
// OffscreenCanvas in the worker). Each rectangle goes through an ImageData
// of its own size: putImageData with a dirty rectangle of a screen-sized
// ImageData costs about as much as painting the whole screen in Chromium,
// so a typed character would cost a full 1080p paint.
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
    if (update.keyframe) {
      if (!this.full || this.full.data !== pix) this.full = new ImageData(pix, w, h);
      this.ctx.putImageData(this.full, 0, 0);
      return;
    }
    const stride = w * 4;
    for (const [x, y, rw, rh] of update.rects) {
      const img = new ImageData(rw, rh), d = img.data, rb = rw * 4;
      for (let r = 0; r < rh; r++) {
        const s = (y + r) * stride + x * 4;
        d.set(pix.subarray(s, s + rb), r * rb);
      }
      this.ctx.putImageData(img, x, y);
    }
  }
}
