// Painter puts a Decoder's changed rectangles onto a canvas (an
// OffscreenCanvas in the worker): putImageData of the decoder's own RGBA
// buffer, so nothing is copied but the changed pixels.
export class Painter {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.img = null;
  }

  paint(dec, update) {
    const { w, h, pix } = dec;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.img = null;
    }
    if (!this.img || this.img.data !== pix) this.img = new ImageData(pix, w, h);
    const rects = this.img && update.keyframe ? [[0, 0, w, h]] : update.rects;
    for (const [x, y, rw, rh] of rects) this.ctx.putImageData(this.img, 0, 0, x, y, rw, rh);
  }
}
