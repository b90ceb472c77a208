// Package codec is Tandem's lossless screen codec: 64-pixel tile damage
// detection plus one zstd stream whose history spans frames, so repeated
// content (a blinking cursor, a re-exposed window) costs almost nothing.
//
// An Encoder turns successive capture.Frames into payloads; a Decoder turns
// payloads back into an *image.RGBA, bit-exact. A payload is self-delimiting
// only together with its length: the transport carries one payload per
// message.
//
// The codec is built to become hybrid (lossy regions, scroll/move
// detection): new region kinds will arrive as a new version byte or as new
// flag bits, which this version rejects.
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
// After any error the decoder's stream state is lost: it answers
// ErrNeedKeyframe to every delta until the next keyframe, and so does a
// decoder that has seen no keyframe yet. The sender should then force a
// keyframe (Encoder.ForceKeyframe).
package codec
