package codec

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
