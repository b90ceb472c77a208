// Package wsmem trims what a long-lived server WebSocket keeps per
// connection. net/http hands a hijacker its connection's 4 KiB bufio reader
// and writer, and github.com/coder/websocket keeps both for the
// connection's life: 8 KiB per idle Host. Lean gives the library smaller
// ones instead; net/http's become garbage once the handler returns.
package wsmem

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Buffer sizes for a signaling WebSocket. Reads of a frame's payload larger
// than the reader's buffer go straight into the caller's slice, and a large
// write costs one more syscall: cheap for small, rare signals.
const (
	ReadSize  = 512
	WriteSize = 1024
)

// Lean wraps w so that hijacking it returns bufio buffers of ReadSize and
// WriteSize bytes. Pass the result to websocket.Accept.
func Lean(w http.ResponseWriter) http.ResponseWriter {
	return &lean{ResponseWriter: w}
}

type lean struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the wrapped writer.
func (l *lean) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (l *lean) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(l.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("flushing before the hijack: %w", err)
	}
	size := ReadSize
	var src io.Reader = c
	// Bytes the client sent after its request are already in net/http's
	// reader: they must come first, and stay buffered, because the caller
	// may Reset the reader onto the connection after peeking at them.
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), c)
		size = max(size, n)
	}
	br := bufio.NewReaderSize(src, size)
	if n := brw.Reader.Buffered(); n > 0 {
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("carrying buffered bytes over: %w", err)
		}
	}
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, WriteSize)), nil
}
