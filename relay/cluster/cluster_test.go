package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// inbox collects a node's messages.
type inbox struct {
	mu   sync.Mutex
	msgs []Message
	lost []string
}

func (b *inbox) handle(m Message) *Message {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	if m.Kind == "ping" {
		return &Message{Data: []byte(`"pong"`)}
	}
	return nil
}

func (b *inbox) wait(t *testing.T, kind string) Message {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b.mu.Lock()
		for i, m := range b.msgs {
			if m.Kind == kind {
				b.msgs = append(b.msgs[:i], b.msgs[i+1:]...)
				b.mu.Unlock()
				return m
			}
		}
		b.mu.Unlock()
	}
	t.Fatalf("no %q message", kind)
	return Message{}
}

func start(t *testing.T, url string, key ed25519.PrivateKey, secret string, hb time.Duration) (*Node, ed25519.PrivateKey, string, *inbox) {
	t.Helper()
	ctx := context.Background()
	n, k, s, err := Open(ctx, Config{URL: url, Heartbeat: hb}, key, secret)
	if err != nil {
		t.Fatal(err)
	}
	b := &inbox{}
	if err := n.Start(ctx, Handlers{Handle: b.handle, Lost: func(node string, sessions []string) {
		b.mu.Lock()
		b.lost = append(b.lost, sessions...)
		b.mu.Unlock()
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, k, s, b
}

// Two nodes share the first one's identity, see each other's Hosts, and
// exchange messages small and large, addressed and broadcast.
func TestTwoNodes(t *testing.T) {
	url := storetest.Postgres(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	a, ka, sa, inA := start(t, url, keyA, "secret-of-node-a-0123", time.Hour)
	b, kb, sb, inB := start(t, url, keyB, "secret-of-node-b-0123", time.Hour)
	if !ka.Equal(keyA) || !kb.Equal(keyA) || sa != "secret-of-node-a-0123" || sb != sa {
		t.Fatal("the second node did not take the first one's identity")
	}

	if prev, _, err := a.Claim(ctx, "dev1"); err != nil || prev != "" {
		t.Fatalf("claim: %q %v", prev, err)
	}
	if node, err := b.Locate(ctx, "dev1"); err != nil || node != a.ID() {
		t.Fatalf("B locates dev1 on %q (%v), want A %s", node, err, a.ID())
	}
	// The Host moves to B: B learns A held it.
	if prev, alive, err := b.Claim(ctx, "dev1"); err != nil || prev != a.ID() || !alive {
		t.Fatalf("B's claim: prev %q alive %v %v", prev, alive, err)
	}
	// A's late release does not drop B's row.
	if err := a.Release(ctx, "dev1"); err != nil {
		t.Fatal(err)
	}
	if node, _ := a.Locate(ctx, "dev1"); node != b.ID() {
		t.Fatalf("dev1 on %q after A's stale release, want B", node)
	}

	a.Post(b.ID(), Message{Kind: "small", Session: "s1"})
	if m := inB.wait(t, "small"); m.From != a.ID() || m.Session != "s1" {
		t.Fatalf("got %+v", m)
	}
	big := `"` + strings.Repeat("x", 100_000) + `"`
	a.Post(b.ID(), Message{Kind: "big", Data: []byte(big)})
	if m := inB.wait(t, "big"); string(m.Data) != big {
		t.Fatalf("big message arrived with %d bytes", len(m.Data))
	}
	var rows int
	db, _ := sql.Open("pgx", url)
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*) FROM cluster_messages`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d message rows left (%v)", rows, err)
	}
	b.Post("", Message{Kind: "all"})
	inA.wait(t, "all")

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := a.Call(cctx, b.ID(), Message{Kind: "ping"})
	if err != nil || string(r.Data) != `"pong"` {
		t.Fatalf("call: %+v %v", r, err)
	}

	// B leaves: its Hosts are offline at once.
	b.Close()
	if node, _ := a.Locate(ctx, "dev1"); node != "" {
		t.Fatalf("dev1 still on %q after B left", node)
	}
}

// A node that stops beating is dead: another reaps its presence and is
// told which sessions it held; its Hosts are offline.
func TestDeadNodeReaped(t *testing.T) {
	url := storetest.Postgres(t)
	ctx := context.Background()
	key := newKey(t)
	// The dead node never starts its loops: it never beats, and 40 ms
	// after it joined it is dead.
	dead, _, _, err := Open(ctx, Config{URL: url, Heartbeat: 10 * time.Millisecond}, key, "secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.db.Close()
	if _, _, err := dead.Claim(ctx, "dev9"); err != nil {
		t.Fatal(err)
	}
	if err := dead.Own(ctx, "sess9"); err != nil {
		t.Fatal(err)
	}
	alive, _, _, in := start(t, url, newKey(t), "other-secret-0123456", 50*time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		in.mu.Lock()
		lost := strings.Join(in.lost, ",")
		in.mu.Unlock()
		if lost == "sess9" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost sessions %q, want sess9", lost)
		}
	}
	if node, _ := alive.Locate(ctx, "dev9"); node != "" {
		t.Fatalf("dev9 still on %q", node)
	}
}
