package transport

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// BenchmarkDataChannelThroughput measures one data channel between two real
// pion peers on 127.0.0.1: screen frames fragmented at wire.MaxFragment
// (64 KiB), the sender paced by WaitBuffered, the receiver reassembling and
// decoding. MB/s is the frame payload rate.
//
//	go test ./transport -run '^$' -bench DataChannelThroughput -benchtime 200x
func BenchmarkDataChannelThroughput(b *testing.B) {
	for _, bc := range []struct {
		frame int
		mark  uint64
	}{
		{1 << 20, 1 << 20},
		{1 << 20, 4 << 20},
		{60 << 10, 1 << 20},
	} {
		b.Run(fmt.Sprintf("frame=%dKiB/mark=%dKiB", bc.frame>>10, bc.mark>>10), func(b *testing.B) {
			ctx := testCtx(b, 10*time.Minute)
			p := newPair(b, ctx, loopbackConfig(), loopbackConfig(), 0)
			p.waitConnected(b, ctx)
			g, h := p.channels(b, ctx, wire.ChannelScreen)
			frame := &wire.ScreenFrame{Codec: wire.CodecTilesV1, Data: make([]byte, bc.frame)}

			done := make(chan error, 1)
			b.SetBytes(int64(bc.frame))
			b.ResetTimer()
			go func() {
				for range b.N {
					m, err := h.Recv(ctx)
					if err != nil {
						done <- err
						return
					}
					if f, ok := m.(*wire.ScreenFrame); !ok || len(f.Data) != bc.frame {
						done <- fmt.Errorf("got %T", m)
						return
					}
				}
				done <- nil
			}()
			for i := range b.N {
				if err := g.WaitBuffered(ctx, bc.mark); err != nil {
					b.Fatal(err)
				}
				frame.Seq = uint32(i)
				if err := g.Send(frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
		})
	}
}
