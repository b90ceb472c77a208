package linkemu

import (
	"math"
	"net"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Offered twice the rate for ten (virtual) seconds, the link delivers its
// rate: the bytes that arrived by the end, over the time, within one
// datagram and one queue of the configured bandwidth; the excess is tail
// dropped, and no datagram waits longer than the queue takes to drain.
func TestShaperRate(t *testing.T) {
	for _, rate := range []int64{5e6, 20e6, 100e6} {
		cfg := Config{Rate: rate, Delay: 40 * time.Millisecond}
		s := NewShaper(cfg)
		const size = 1200
		span := 10 * time.Second
		gap := time.Duration(int64(size) * 8 * int64(time.Second) / (2 * rate)) // twice the rate
		var arrived int64
		maxWait := time.Duration(0)
		end := t0.Add(span)
		for at := t0; at.Before(end); at = at.Add(gap) {
			arr, v := s.Admit(at, size)
			if v != Delivered {
				continue
			}
			maxWait = max(maxWait, arr.Sub(at))
			if !arr.After(end.Add(cfg.Delay)) {
				arrived += size
			}
		}
		want := float64(rate) / 8 * span.Seconds()
		tol := float64(size + cfg.queue())
		if got := float64(arrived); math.Abs(got-want) > tol {
			t.Errorf("rate %d: %0.f bytes arrived in %v, want %0.f ± %0.f", rate, got, span, want, tol)
		}
		st := s.Stats()
		if st.Dropped == 0 || st.Lost != 0 {
			t.Errorf("rate %d: stats %+v: want tail drops of the excess and no random loss", rate, st)
		}
		// Queueing delay is bounded by the queue: the link never holds
		// more than Queue bytes, the backlog the pacer must not rely on.
		bound := cfg.Delay + time.Duration(int64(cfg.queue()+size)*8*int64(time.Second)/rate)
		if maxWait > bound {
			t.Errorf("rate %d: a datagram took %v, over the queue's bound %v", rate, maxWait, bound)
		}
	}
}

// On an idle link a datagram takes its serialisation time plus the delay.
func TestShaperDelay(t *testing.T) {
	s := NewShaper(Config{Rate: 8e6, Delay: 25 * time.Millisecond})
	arr, v := s.Admit(t0, 1000) // 1 ms at 8 Mb/s
	if v != Delivered || arr.Sub(t0) != 26*time.Millisecond {
		t.Fatalf("Admit = %v, %v; want delivered after 26ms", arr.Sub(t0), v)
	}
	// Later, the link is idle again.
	at := t0.Add(time.Second)
	if arr, _ := s.Admit(at, 1000); arr.Sub(at) != 26*time.Millisecond {
		t.Fatalf("idle link took %v", arr.Sub(at))
	}
	// Unlimited rate: the delay only.
	u := NewShaper(Config{Delay: 5 * time.Millisecond})
	if arr, _ := u.Admit(t0, 64<<10); arr.Sub(t0) != 5*time.Millisecond {
		t.Fatalf("unlimited link took %v", arr.Sub(t0))
	}
}

// Random loss is statistically right: 100,000 datagrams at 1 % lose
// 1,000 ± 5σ, and different seeds lose different datagrams.
func TestShaperLoss(t *testing.T) {
	const n, p = 100000, 0.01
	pattern := func(seed uint64) ([]bool, Stats) {
		s := NewShaper(Config{Loss: p, Seed: seed})
		lost := make([]bool, n)
		for i := range n {
			_, v := s.Admit(t0, 100)
			lost[i] = v == Lost
		}
		return lost, s.Stats()
	}
	a, st := pattern(1)
	sigma := math.Sqrt(n * p * (1 - p))
	if math.Abs(float64(st.Lost)-n*p) > 5*sigma {
		t.Fatalf("lost %d of %d, want %0.f ± %0.f", st.Lost, n, n*p, 5*sigma)
	}
	if st.Delivered+st.Lost != n || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	b, _ := pattern(2)
	same := 0
	for i := range a {
		if a[i] && b[i] {
			same++
		}
	}
	if same > st.Lost/2 {
		t.Fatalf("seeds 1 and 2 lose the same %d datagrams", same)
	}
}

// Through real loopback sockets: what the model delivers arrives, in order,
// never before its delay; what it loses or drops does not.
func TestNetDelivers(t *testing.T) {
	const delay = 20 * time.Millisecond
	n, err := NewNet(Config{Rate: 2e6, Delay: delay, Loss: 0.1, Queue: 30 << 10, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	const count = 100
	sent := make([]time.Time, count)
	for i := range count {
		b := make([]byte, 1000)
		b[0] = byte(i)
		sent[i] = time.Now()
		if _, err := tx.WriteTo(b, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	st := n.Stats()
	// 100 kB offered at once to a 30 KiB queue: some are tail dropped,
	// some lost at random.
	if st.Dropped == 0 || st.Lost == 0 || st.Delivered+st.Lost+st.Dropped != count {
		t.Fatalf("stats %+v", st)
	}
	if err := rx.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	last := -1
	buf := make([]byte, 2000)
	for range st.Delivered {
		k, _, err := rx.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", last+1, err)
		}
		i := int(buf[0])
		if k != 1000 || i <= last {
			t.Fatalf("datagram %d (%d bytes) after %d", i, k, last)
		}
		if time.Since(sent[i]) < delay {
			t.Fatalf("datagram %d arrived before the link's delay", i)
		}
		last = i
	}
	// Nothing beyond what the model delivered.
	if err := rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rx.ReadFromUDP(buf); err == nil {
		t.Fatal("more datagrams arrived than the link delivered")
	}
}
