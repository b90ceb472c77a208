package agent

import (
	"testing"

	"github.com/tandem-rc/tandem/transport/wire"
)

// An older guest gets only what its decoder takes: no ATLAS ops (Motion)
// unless it announced screen.tiles.motion.v1, no PREDICT unless it
// announced that, version 1 unless version 2.
func TestScreenOptionsNegotiated(t *testing.T) {
	for _, c := range []struct {
		caps                   []string
		version                int
		codecID                uint8
		predict, motion, lossy bool
	}{
		{nil, 1, wire.CodecTilesV1, false, false, false},
		{[]string{wire.CapScreenTiles, wire.CapScreenMotion}, 1, wire.CodecTilesV1, false, false, false},
		{[]string{wire.CapScreenTilesV2}, 2, wire.CodecTilesV2, false, false, true},
		{[]string{wire.CapScreenTilesV2, wire.CapScreenPredict}, 2, wire.CodecTilesV2, true, false, true},
		{[]string{wire.CapScreenTilesV2, wire.CapScreenPredict, wire.CapScreenMotion}, 2, wire.CodecTilesV2, true, true, true},
	} {
		opts, id := screenOptions(c.caps)
		if opts.Version != c.version || id != c.codecID || opts.Predict != c.predict || opts.Motion != c.motion ||
			(opts.JPEGQuality > 0) != c.lossy {
			t.Errorf("caps %v: %+v codec %d", c.caps, opts, id)
		}
	}
}
