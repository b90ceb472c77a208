package wire

import (
	"errors"
	"fmt"
)

// Data-channel framing: every data-channel message starts with one flag byte.
// FragFinal ends a message; FragMore says more fragments of the same message
// follow. Channels are reliable and ordered, so fragments arrive in order.
const (
	FragFinal byte = 0x00
	FragMore  byte = 0x01
)

// ErrTooLarge is returned when a reassembled message would exceed its limit.
var ErrTooLarge = errors.New("wire: message too large")

// Fragment splits msg into data-channel messages of at most max bytes
// (including the flag byte) and calls send for each, in order.
func Fragment(msg []byte, max int, send func([]byte) error) error {
	if max < 2 {
		return fmt.Errorf("wire: fragment size %d too small", max)
	}
	chunk := max - 1
	for {
		n := min(len(msg), chunk)
		flag := FragFinal
		if n < len(msg) {
			flag = FragMore
		}
		buf := make([]byte, 0, n+1)
		buf = append(append(buf, flag), msg[:n]...)
		if err := send(buf); err != nil {
			return err
		}
		msg = msg[n:]
		if flag == FragFinal {
			return nil
		}
	}
}

// Reassembler rebuilds messages from fragments. It is not safe for
// concurrent use; one per channel.
type Reassembler struct {
	Max int // largest message accepted; 0 means MaxMessage
	buf []byte
	bad bool // discarding the rest of an oversized message
}

// Push takes one data-channel message. It returns the complete message when
// frag ends one, (nil, nil) while more fragments are expected. An oversized
// message is dropped whole (ErrTooLarge once, then its remaining fragments are
// skipped) so the channel stays usable.
func (r *Reassembler) Push(frag []byte) ([]byte, error) {
	if len(frag) == 0 {
		return nil, fmt.Errorf("%w: empty fragment", ErrMalformed)
	}
	max := r.Max
	if max <= 0 {
		max = MaxMessage
	}
	flag, data := frag[0], frag[1:]
	if flag != FragFinal && flag != FragMore {
		r.buf, r.bad = r.buf[:0], false
		return nil, fmt.Errorf("%w: fragment flag 0x%02x", ErrMalformed, flag)
	}
	if r.bad {
		if flag == FragFinal {
			r.bad = false
		}
		return nil, nil
	}
	if len(r.buf)+len(data) > max {
		r.buf = nil
		r.bad = flag == FragMore
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	if flag == FragFinal && len(r.buf) == 0 {
		return data, nil // common case: unfragmented, no copy
	}
	r.buf = append(r.buf, data...)
	if flag == FragMore {
		return nil, nil
	}
	msg := r.buf
	r.buf = nil
	return msg, nil
}
