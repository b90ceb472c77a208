package codec

import "image"

// PayloadParts exposes a version-2 payload's zstd part, raw length and JPEG
// images to the external tests.
func PayloadParts(p []byte) (z []byte, rawLen int, jpegs [][]byte, err error) {
	h, err := parseV2(p, Limits{}.withDefaults(), nil)
	if err != nil {
		return nil, 0, nil, err
	}
	for _, op := range h.ops {
		if op.kind == OpJPEG {
			jpegs = append(jpegs, op.jpeg)
		}
	}
	return h.z, h.rawLen, jpegs, nil
}

// PayloadOps lists a version-2 payload's op codes, and for ATLAS ops the
// pieces' rectangles.
func PayloadOps(p []byte) (kinds []byte, pieces []image.Rectangle, err error) {
	h, err := parseV2(p, Limits{}.withDefaults(), nil)
	if err != nil {
		return nil, nil, err
	}
	for _, op := range h.ops {
		kinds = append(kinds, op.kind)
		for _, pc := range op.pieces {
			pieces = append(pieces, pc.dst)
		}
	}
	return kinds, pieces, nil
}
