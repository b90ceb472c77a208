package linkemu

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Net is a pion transport.Net whose UDP sockets send through one direction
// of an emulated link: give each peer its own Net (SettingEngine.SetNet),
// and the two directions are the two peers' egress. Datagrams are queued
// and written to the real socket when the model says they arrive; reads
// are untouched. Only UDP is shaped (ICE over UDP, which is what
// transport.Config.Loopback gathers when TCP is off).
type Net struct {
	*stdnet.Net
	sh *Shaper

	mu     sync.Mutex
	queue  []datagram // in arrival order (the model's arrivals never go back in time)
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

type datagram struct {
	at   time.Time
	conn transport.UDPConn
	to   net.Addr // nil: the socket is connected
	b    []byte
}

// NewNet returns a Net shaping its egress by cfg. Close stops it.
func NewNet(cfg Config) (*Net, error) {
	sn, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	n := &Net{Net: sn, sh: NewShaper(cfg), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.deliver()
	return n, nil
}

// Stats returns what the link did to this Net's egress.
func (n *Net) Stats() Stats { return n.sh.Stats() }

// Close stops delivering; datagrams still in the link are lost.
func (n *Net) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.queue = nil
		close(n.done)
	}
	return nil
}

// ListenUDP opens a real UDP socket whose writes go through the link.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &shapedConn{UDPConn: c, n: n}, nil
}

// ListenPacket is ListenUDP for "udp" networks (what pion's srflx and relay
// gathering use); other networks are refused.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return n.ListenUDP(network, addr)
}

// errClosed: a write to a Net that was closed.
var errClosed = errors.New("linkemu: closed")

func (n *Net) send(c transport.UDPConn, b []byte, to net.Addr) (int, error) {
	at, v := n.sh.Admit(time.Now(), len(b))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return 0, errClosed
	}
	if v == Delivered {
		n.queue = append(n.queue, datagram{at: at, conn: c, to: to, b: append([]byte(nil), b...)})
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return len(b), nil // a dropped datagram was sent, as far as the sender knows
}

// deliver writes each datagram to its socket at its arrival time.
func (n *Net) deliver() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		n.mu.Lock()
		var due []datagram
		now := time.Now()
		i := 0
		for i < len(n.queue) && !n.queue[i].at.After(now) {
			i++
		}
		due, n.queue = n.queue[:i:i], n.queue[i:]
		wait := time.Hour
		if len(n.queue) > 0 {
			wait = n.queue[0].at.Sub(now)
		}
		n.mu.Unlock()
		for _, d := range due {
			// A closed socket loses it, like a host that went away.
			if d.to == nil {
				_, _ = d.conn.Write(d.b)
			} else {
				_, _ = d.conn.WriteTo(d.b, d.to)
			}
		}
		if len(due) > 0 {
			continue
		}
		t.Reset(wait)
		select {
		case <-n.done:
			return
		case <-n.wake:
		case <-t.C:
		}
	}
}

// shapedConn is a UDP socket whose writes go through its Net's link.
type shapedConn struct {
	transport.UDPConn
	n *Net
}

func (c *shapedConn) WriteTo(b []byte, to net.Addr) (int, error) {
	return c.n.send(c.UDPConn, b, to)
}

func (c *shapedConn) WriteToUDP(b []byte, to *net.UDPAddr) (int, error) {
	return c.n.send(c.UDPConn, b, to)
}

func (c *shapedConn) WriteMsgUDP(b, _ []byte, to *net.UDPAddr) (int, int, error) {
	n, err := c.n.send(c.UDPConn, b, to)
	return n, 0, err
}

func (c *shapedConn) Write(b []byte) (int, error) {
	if c.UDPConn.RemoteAddr() == nil {
		return 0, errors.New("linkemu: write on an unconnected socket")
	}
	return c.n.send(c.UDPConn, b, nil)
}
