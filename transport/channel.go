package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/transport/wire"
)

// recvQueue is how many data-channel messages (each at most
// wire.MaxFragment) a channel holds for its consumer before pion's read
// loop blocks: at most 1 MiB per channel. See the package doc on flow control.
const recvQueue = 16

// ProtocolError reports a malformed, oversized or unknown message received
// on a channel. The message is dropped, the channel stays usable: log it (or
// answer with a wire.Error) and call Recv again. errors.Is works on the
// cause: wire.ErrMalformed, wire.ErrTooLarge, wire.ErrUnknownType.
type ProtocolError struct {
	Channel string
	Err     error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("transport: channel %q: %v", e.Channel, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Channel is one open data channel carrying wire session messages.
// Send and WaitBuffered may be called from several goroutines; Recv is meant
// for one reader (concurrent calls are serialized).
type Channel struct {
	label string
	dc    *webrtc.DataChannel

	queue     chan []byte
	closed    chan struct{}
	closeOnce sync.Once
	err       error // set before closed is closed

	sendMu sync.Mutex // the fragments of one message stay contiguous

	recvLock chan struct{} // a mutex Recv can wait on with a context
	reasm    wire.Reassembler

	lowMu sync.Mutex
	low   chan struct{} // closed (and replaced) on each buffered-amount-low event
}

func newChannel(dc *webrtc.DataChannel) *Channel {
	return &Channel{
		label:    dc.Label(),
		dc:       dc,
		queue:    make(chan []byte, recvQueue),
		closed:   make(chan struct{}),
		recvLock: make(chan struct{}, 1),
		low:      make(chan struct{}),
	}
}

// Label is the channel's name (wire.ChannelControl, ...).
func (c *Channel) Label() string { return c.label }

// onMessage runs on pion's read loop for this channel. pion hands over a
// fresh copy of the data. A full queue blocks the loop (backpressure) until
// the consumer reads or the channel closes.
func (c *Channel) onMessage(m webrtc.DataChannelMessage) {
	select {
	case c.queue <- m.Data:
	case <-c.closed:
	}
}

func (c *Channel) onBufferedLow() {
	c.lowMu.Lock()
	close(c.low)
	c.low = make(chan struct{})
	c.lowMu.Unlock()
}

func (c *Channel) shutdown(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.closed)
	})
}

func (c *Channel) closedErr() error {
	<-c.closed
	return c.err
}

// Send encodes m and sends it, in fragments of at most wire.MaxFragment
// bytes. It does not wait for the network: pace with WaitBuffered.
func (c *Channel) Send(m wire.Message) error {
	b := wire.Marshal(m)
	if len(b) > wire.MaxMessage {
		return fmt.Errorf("transport: %w: message of %d bytes exceeds %d", wire.ErrTooLarge, len(b), wire.MaxMessage)
	}
	return c.sendRaw(b)
}

func (c *Channel) sendRaw(b []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	select {
	case <-c.closed:
		return c.err
	default:
	}
	err := wire.Fragment(b, wire.MaxFragment, c.dc.Send)
	if err != nil {
		select {
		case <-c.closed:
			return c.err
		default:
		}
		return fmt.Errorf("transport: send on %q: %w", c.label, err)
	}
	return nil
}

// Recv returns the next message. A malformed or oversized message gives a
// *ProtocolError and the channel goes on; messages already received are
// delivered after a close, then Recv returns the reason (ErrClosed,
// ErrRemoteClosed ...). ctx ends the wait, not the channel, and a message
// being reassembled survives it.
func (c *Channel) Recv(ctx context.Context) (wire.Message, error) {
	select {
	case c.recvLock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.recvLock }()

	for {
		var frag []byte
		select {
		case frag = <-c.queue:
		default:
			select {
			case frag = <-c.queue:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-c.closed:
				select {
				case frag = <-c.queue:
				default:
					return nil, c.err
				}
			}
		}
		b, err := c.reasm.Push(frag)
		if err != nil {
			return nil, &ProtocolError{Channel: c.label, Err: err}
		}
		if b == nil {
			continue // more fragments to come
		}
		m, err := wire.Unmarshal(b)
		if err != nil {
			return nil, &ProtocolError{Channel: c.label, Err: err}
		}
		return m, nil
	}
}

// BufferedAmount is the number of bytes queued to send on the channel.
func (c *Channel) BufferedAmount() uint64 { return c.dc.BufferedAmount() }

// WaitBuffered blocks until BufferedAmount is below the mark, driven by
// pion's buffered-amount-low event (no polling). A sender that calls it
// before each Send keeps at most below + one message queued.
func (c *Channel) WaitBuffered(ctx context.Context, below uint64) error {
	if below == 0 {
		return errors.New("transport: WaitBuffered below 0 never returns")
	}
	for {
		// Take the event channel before looking at the amount, so a drop
		// below the threshold after the look still wakes us.
		c.lowMu.Lock()
		low := c.low
		c.lowMu.Unlock()
		c.dc.SetBufferedAmountLowThreshold(below - 1)
		if c.dc.BufferedAmount() < below {
			// A closed channel reads as empty: report the close instead.
			select {
			case <-c.closed:
				return c.err
			default:
				return nil
			}
		}
		select {
		case <-low:
		case <-c.closed:
			return c.closedErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
