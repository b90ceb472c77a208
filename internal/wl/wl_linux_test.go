//go:build linux

package wl

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// event encodes one message.
func event(id uint32, op uint16, args ...[]byte) []byte {
	var body []byte
	for _, a := range args {
		body = append(body, a...)
	}
	b := binary.LittleEndian.AppendUint32(nil, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(8+len(body))<<16|uint32(op))
	return append(b, body...)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func str(s string) []byte {
	b := u32(uint32(len(s) + 1))
	b = append(b, s...)
	return append(b, make([]byte, pad(len(s)+1)-len(s))...)
}

// fakeCompositor accepts one client and answers its first requests
// (get_registry, sync) with reply, then keeps the connection open.
func fakeCompositor(t *testing.T, reply func(sync uint32) []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wayland-0")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// The client may send get_registry and sync in two writes: read
		// both whole, and drain until it hangs up (closing with unread
		// bytes would reset the connection under the client's read).
		buf := make([]byte, 24) // get_registry (12) + sync (12)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write(reply(binary.LittleEndian.Uint32(buf[20:])))
		_, _ = io.Copy(io.Discard, c)
	}()
	return path
}

func TestDialRegistry(t *testing.T) {
	path := fakeCompositor(t, func(sync uint32) []byte {
		b := event(2, 0, u32(1), str("wl_shm"), u32(1))
		b = append(b, event(2, 0, u32(7), str("zwlr_screencopy_manager_v1"), u32(3))...)
		return append(b, event(sync, 0, u32(0))...)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if g, ok := c.Global("zwlr_screencopy_manager_v1"); !ok || g.Name != 7 || g.Version != 3 {
		t.Fatalf("global %+v %v", g, ok)
	}
}

// TestHostileCompositor: malformed events end the connection with an
// error (or are ignored), never a panic, a hang or a huge allocation.
func TestHostileCompositor(t *testing.T) {
	for name, reply := range map[string]func(uint32) []byte{
		"size below header":    func(uint32) []byte { return []byte{2, 0, 0, 0, 0, 0, 4, 0} },
		"size not aligned":     func(uint32) []byte { return []byte{2, 0, 0, 0, 0, 0, 9, 0, 1} },
		"array beyond message": func(s uint32) []byte { return event(2, 0, u32(1), u32(0xfffffff0)) },
		"string beyond event":  func(s uint32) []byte { return event(2, 0, u32(1), u32(64), []byte("abcd")) },
		"protocol error":       func(s uint32) []byte { return event(1, 0, u32(1), u32(3), str("go away")) },
		"unknown object":       func(s uint32) []byte { return event(99, 0, u32(1)) },
	} {
		t.Run(name, func(t *testing.T) {
			path := fakeCompositor(t, reply)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := Dial(ctx, path)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded without the sync's answer")
			}
			if name == "protocol error" && !strings.Contains(err.Error(), "go away") {
				t.Fatalf("error %v", err)
			}
		})
	}
}
