// Package codec is Tandem's screen codec: 64-pixel tile damage detection,
// scroll and window-move detection sent as copy-rectangles, solid and
// few-colour tiles, one zstd stream whose history spans frames (so repeated
// content, a blinking cursor or a re-exposed window, costs almost nothing)
// and, optionally, JPEG for changing photographic regions.
//
// An Encoder turns successive capture.Frames into payloads; a Decoder turns
// payloads back into an *image.RGBA, bit-exact except for JPEG regions,
// which the encoder resends lossless once they stop changing. A payload is self-delimiting
// only together with its length: the transport carries one payload per
// message.
//
// The Encoder writes version 2 (below) unless EncoderOptions.Version is 1;
// the Decoder accepts both. Version 2 adds copy-rectangles (scroll and
// window-move detection), solid fills, palette tiles and JPEG; future
// region kinds will arrive as new op codes, which this version rejects.
//
// # Payload format, version 1
//
// All multi-byte integers are big-endian. "uvarint" is an unsigned LEB128
// varint (7 bits per byte, least significant group first, high bit set on
// every byte but the last; at most 10 bytes), as in Protocol Buffers.
//
//	offset  size  field
//	0       1     magic 0x54 ('T')
//	1       1     version 0x01
//	2       1     flags: bit 0 (0x01) KEY: keyframe
//	                     bit 1 (0x02) BITMAP: the tile set is a bitmap
//	                     other bits: 0 (a decoder rejects the payload otherwise)
//	3       2     width in pixels (1..65535)
//	5       2     height in pixels (1..65535)
//	7       2     tile size T in pixels (16..256)
//	9       var   tile set: absent in keyframes (a keyframe carries every tile)
//	        4     raw length R: the decompressed size of the zstd part
//	        var   zstd part, to the end of the payload
//
// Tiles. The screen is cut into a grid of tilesX = ceil(width/T) columns and
// tilesY = ceil(height/T) rows; tile i covers column i % tilesX and row
// i / tilesX, that is the pixels x in [tx*T, min(tx*T+T, width)) and y in
// [ty*T, min(ty*T+T, height)): tiles in the last column or row are
// narrower or shorter.
//
// Tile set of a delta (KEY clear), which lists the tiles that changed, in
// increasing index order, at least one:
//
//   - BITMAP clear, a list: uvarint count (1..tilesX*tilesY), then count
//     uvarints: the first is the first index, each next one is
//     index - previous index - 1.
//   - BITMAP set, a bitmap of ceil(tilesX*tilesY/8) bytes: tile i is
//     present when bit (i & 7) of byte (i >> 3) is set (least significant
//     bit first); bits past the last tile are 0.
//
// The encoder writes whichever form is shorter (the list on a tie).
//
// Raw data. The decompressed zstd part is the listed tiles in increasing
// index order; each tile is its rows top to bottom, each row its pixels left
// to right, each pixel 3 bytes: red, green, blue. So R is the sum of
// w*h*3 over the listed tiles, and a decoder rejects a payload whose R
// differs (so R never needs trusting for an allocation).
//
// Zstd stream. The zstd parts of a keyframe and of the deltas that follow
// it, up to the next keyframe, concatenated, are one zstd stream
// (RFC 8878) that the decoder must decompress incrementally, keeping its
// state between payloads: each payload holds whole blocks (the encoder
// flushes after every frame) that decompress to exactly R bytes, and later
// payloads refer back to earlier ones through the window. A keyframe starts
// a new stream, beginning with a zstd frame header (magic 28 B5 2F FD), so a
// decoder can join at any keyframe. The encoder declares a window of at most
// 8 MiB and never ends the frame; a decoder rejects larger windows.
//
// # Payload format, version 2
//
// Version 2 keeps version 1's conventions (big-endian integers, uvarints,
// the tile grid, the zstd stream spanning a keyframe and its deltas) and
// replaces the tile set by a list of ops applied in order to the screen
// (for a delta, the screen as the previous payload left it). "varint" is a
// signed zigzag varint (encoding/binary.AppendVarint: 2*v for v >= 0,
// -2*v-1 for v < 0, then as a uvarint).
//
//	offset  size  field
//	0       1     magic 0x54 ('T')
//	1       1     version 0x02
//	2       1     flags: bit 0 (0x01) KEY: keyframe
//	                     bit 1 (0x02) PREDICT: RAW and RECT raw data are
//	                     prediction residuals (below); only sent to
//	                     decoders that announced it (older ones reject it)
//	                     other bits: 0
//	3       2     width in pixels (1..65535)
//	5       2     height in pixels (1..65535)
//	7       2     tile size T in pixels (16..256)
//	9       var   uvarint op count (at least 1)
//	        var   the ops
//	        4     raw length R: the decompressed bytes the ops consume
//	        var   zstd part, to the end of the payload; empty if and only
//	              if R is 0
//
// Each op starts with its code byte. The tile ops (FILL, RAW, PALETTE)
// address tiles through a cursor that starts at tile 0 in every payload:
// an op's first tile is cursor + skip, and the cursor then moves past the
// op's last tile, so tile ops come in increasing tile order and never
// overlap one another.
//
//	0x01 COPY     uvarint x, y, w, h (w, h >= 1): the destination
//	              rectangle [x, x+w) x [y, y+h), inside the screen;
//	              varint sx, sy: the source is the same rectangle moved by
//	              (sx, sy), also inside the screen. Every COPY reads the
//	              screen as it was before the payload (as if all sources
//	              were copied out first), so their order does not matter.
//	              COPY ops come before all other ops, are not allowed in a
//	              keyframe, and cover at most width*height pixels in all.
//	0x02 FILL     uvarint skip, uvarint count-1, 3 bytes R G B: count
//	              tiles filled with one colour.
//	0x03 RAW      uvarint skip, uvarint count-1: count tiles, each read
//	              from the raw data as in version 1 (rows top to bottom,
//	              R G B per pixel).
//	0x04 PALETTE  uvarint skip, 1 byte n-1 (1..256 colours): one tile whose
//	              raw data is n colours (R G B each) followed by one byte
//	              per pixel (rows top to bottom), an index below n.
//	0x05 RECT     uvarint x, y, w, h (1..T each): a rectangle inside the
//	              screen read from the raw data like a RAW tile (w*h*3
//	              bytes). Not allowed in a keyframe; it does not move the
//	              cursor. The encoder uses it for the parts of a tile that
//	              a scroll or move leaves uncovered.
//	0x06 JPEG     uvarint x, y, w, h (w, h >= 1): a rectangle inside the
//	              screen; uvarint L (1..the bytes left), then L bytes: a
//	              baseline JFIF JPEG of exactly w x h pixels, carried in the
//	              op list (not in the zstd stream) so a browser can decode
//	              it natively. Lossy: the encoder uses it only with
//	              EncoderOptions.JPEGQuality, for tiles that look
//	              photographic (many colours, none dominant) and changed on
//	              consecutive frames, plus their changing neighbours, and
//	              resends them lossless (FILL, RAW, PALETTE) on the first
//	              frame in which they do not change. Not allowed in a
//	              keyframe; it does not move the cursor.
//	0x07 ATLAS    (only to decoders that announced screen.tiles.motion.v1;
//	              older ones reject the unknown op) uvarint aw, the atlas
//	              width (1..width); uvarint n (at least 1), then n pieces,
//	              each varint dx, dy (its screen position minus the
//	              previous piece's, the first from (0, 0)), uvarint w-1,
//	              h-1 (inside the screen, w <= aw); uvarint L (1..aw*ah*3
//	              + 2048): a baseline JPEG of aw x ah pixels, read from the
//	              raw data (so its headers, the same every frame, cost
//	              almost nothing in the zstd window). The pieces are packed
//	              in order on shelves: left to right from (0, 0); a piece
//	              that does not fit in aw starts a new shelf below the
//	              tallest piece of the current one; ah is the shelves'
//	              total height (at most the screen's height, aw*ah at most
//	              the screen's area), and the widest shelf must be exactly
//	              aw. Each piece is painted from its place in the JPEG.
//	              Lossy: the encoder (EncoderOptions.Motion) uses it for
//	              the pixels a move or scroll uncovers that a PALETTE tile
//	              could not hold (not text or UI), and for video regions
//	              cropped to where they changed; it refines them lossless
//	              once they stop changing (Encoder.SetRefineBudget lets
//	              some refinements through while the motion goes on). Not
//	              allowed in a keyframe; it does not move the cursor.
//
// PREDICT. With flag PREDICT, the raw data of each RAW tile and RECT op is,
// instead of its R G B pixels, one residual triple per pixel (same order,
// same size): each channel is predicted by MED (the median edge detector of
// LOCO-I/JPEG-LS, pred = min(a,b) if c >= max(a,b), max(a,b) if c <=
// min(a,b), else a+b-c) from its left (a), upper (b) and upper-left (c)
// neighbours inside the same tile or rectangle; the first row predicts from
// a, the first column from b, the first pixel from 0. With dG = G - pG the
// bytes are dR = R - pR - dG, dG, dB = B - pB - dG, all modulo 256. The
// filter never looks outside the rectangle, so a browser decodes each one
// on its own. It shrinks photographic content (keyframes of a wallpaper by
// ~13%); PALETTE data is never filtered.
//
// R is the sum of the RAW, PALETTE and RECT ops' raw sizes and the ATLAS
// ops' L, consumed in op order; a decoder rejects a payload whose R differs. Ops are applied in
// order; later ops overwrite earlier ones where they overlap. A keyframe
// must cover every tile with FILL, RAW and PALETTE ops. A decoder also
// rejects a payload whose ops write more than 4 screens of pixels in all
// (bounded work per byte).
//
// The zstd part is absent when R is 0, including in a keyframe: the new
// stream (with its frame header) then starts with the next payload that
// has raw data. Update.Rects covers the tiles touched by any op.
//
// # The browser's door
//
// A browser console decodes version 2 without WebAssembly:
//
//   - the header and op list are plain bytes (a DataView);
//   - COPY: CanvasRenderingContext2D.getImageData of every source first,
//     then putImageData (or drawImage from a snapshot canvas); FILL:
//     fillRect; RAW, RECT, PALETTE: putImageData of an ImageData built from
//     the raw data (with PREDICT, undo the filter above in a few lines of
//     JS first);
//   - JPEG and ATLAS: the browser's own image decoder (createImageBitmap on a Blob of
//     type image/jpeg, then drawImage): the ops are baseline JPEGs (one
//     SOF0 frame; Go's image/jpeg writes no JFIF APP0 segment, which
//     browsers do not need);
//   - the zstd stream: a streaming JS decoder that keeps its window across
//     chunks, such as fzstd (github.com/101arrowz/fzstd, pure JS, a few KB
//     minified; its Decompress class takes chunks with push()). The
//     built-in DecompressionStream does not help: it knows gzip, deflate
//     and deflate-raw only (zstd is not in the Compression Streams
//     standard), so the stream must not be assumed to decode natively.
//     Each payload holds whole zstd blocks and the frame is never ended,
//     so feed each payload's zstd part and read exactly R bytes.
//
// TestStandardStreamAndJPEG checks both claims: the zstd parts of a
// keyframe and its deltas, closed by an empty last block, are one standard
// zstd frame that the reference zstd CLI decodes, and every JPEG op is
// baseline and decodes with image/jpeg.
//
// After any error the decoder's stream state is lost: it answers
// ErrNeedKeyframe to every delta until the next keyframe, and so does a
// decoder that has seen no keyframe yet. The sender should then force a
// keyframe (Encoder.ForceKeyframe).
package codec
