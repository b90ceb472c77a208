package frontdoor

import (
	"log"
	"net/http"
	"time"
)

// ServerConfig bounds how long a client may take over each part of a
// request. Zero values take the defaults below; tests shorten them.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration // request line and headers; default 10 s
	ReadTimeout       time.Duration // the whole request, body included; default 30 s (API bodies are ≤ 64 KiB)
	WriteTimeout      time.Duration // the answer; default 2 min. Downloads use it as a stall bound instead (Download)
	IdleTimeout       time.Duration // between keep-alive requests; default 2 min
	MaxHeaderBytes    int           // default 32 KiB
	ErrorLog          *log.Logger
}

// NewServer is the relay's http.Server around h. WebSockets are exempt from
// the read and write timeouts: net/http clears a connection's deadlines
// when it is hijacked, and the relay's pings bound them instead.
func NewServer(h http.Handler, c ServerConfig) *http.Server {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          c.ErrorLog,
	}
}

// Download lifts the server's read and write deadlines for a long answer
// (an installer to a slow link): the read deadline goes (the request has
// been read), and the write deadline moves forward before each write by the
// server's WriteTimeout, so a download that keeps moving is never cut while
// one that stalls for that long is. Without a WriteTimeout, w is returned.
func Download(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.WriteTimeout <= 0 {
		return w
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	return &stallWriter{ResponseWriter: w, rc: rc, stall: srv.WriteTimeout}
}

type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallWriter) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	return s.ResponseWriter.Write(p)
}

func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
