// Package transport carries a Tandem session between a host and a guest: a
// WebRTC peer (pion) with the data channels of the wire protocol, and
// the WebSocket to the relay that carries the signaling.
//
// A session on each side:
//
//	sc, _ := transport.Dial(ctx, relayURL, header)          // signaling
//	p, _ := transport.NewPeer(cfg, wire.RoleGuest, func(s *wire.Signal) error {
//		s.Session = id
//		return sc.Send(ctx, s)
//	})
//	go func() { for { s, err := sc.Recv(ctx); ...; p.HandleSignal(s) } }()
//	p.Start(ctx)                                            // the guest offers
//	ctl, _ := p.Channel(ctx, wire.ChannelControl)
//	ctl.Send(&wire.Hello{...})
//
// Data channels carry wire session messages, fragmented at wire.MaxFragment
// (browsers cap a data-channel message at 256 KiB) and reassembled on receipt.
//
// Flow control. Sending is paced by the sender: Channel.WaitBuffered blocks
// until the channel's SCTP send buffer has drained below a mark, so a screen
// streamer sends the newest frame instead of building a backlog. Receiving
// never drops: each channel has a small bounded queue of data-channel
// messages, and when the consumer is slower than the network the pion read
// callback blocks on that queue (without a time limit, until the consumer
// reads or the channel closes). The blocked reader stops draining SCTP, the
// receive window closes and the remote sender's buffered amount grows, which
// its WaitBuffered turns into backpressure. The SCTP association's receive
// window is shared by all channels of a peer, so a consumer that stops
// reading one channel eventually stalls the others: read every channel from
// its own goroutine.
package transport
