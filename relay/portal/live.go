package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The live OnDemand queue (spec 3.2): My sessions keeps an EventSource on
// GET /sessions/events. The stream asks the API for the queue every poll
// with the user's own token (so a logged-off or expired token ends it),
// and sends the table's rows, rendered by the page's own template, when
// they change, plus the sessions that joined since the last event (the
// page's script turns those into a browser notification). Bounded: a few
// streams per user and in all, a heartbeat to keep proxies from closing
// an idle stream, and a lifetime after which the browser reconnects.

type liveHub struct {
	mu        sync.Mutex
	perUser   map[string]int
	total     int
	maxUser   int
	maxTotal  int
	poll      time.Duration
	heartbeat time.Duration
	lifetime  time.Duration
	refusals  time.Time // last refusal logged: one line a minute at most
}

func newLiveHub() *liveHub {
	return &liveHub{perUser: map[string]int{}, maxUser: 4, maxTotal: 500,
		poll: 2 * time.Second, heartbeat: 15 * time.Second, lifetime: 10 * time.Minute}
}

// acquire takes a stream slot for user; ok false when the user or the
// relay has all it may.
func (h *liveHub) acquire(user string) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perUser[user] >= h.maxUser || h.total >= h.maxTotal {
		return nil, false
	}
	h.perUser[user]++
	h.total++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.perUser[user]--; h.perUser[user] == 0 {
			delete(h.perUser, user)
		}
		h.total--
	}, true
}

// logRefusal reports whether a refusal should be logged now.
func (h *liveHub) logRefusal(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.refusals) < time.Minute {
		return false
	}
	h.refusals = now
	return true
}

func (p *Portal) routesLive(mux *http.ServeMux) {
	p.live = newLiveHub()
	mux.HandleFunc("GET /sessions/events", p.handleQueueEvents)
}

// queueEvent is one "queue" event's data.
type queueEvent struct {
	HTML   string       `json:"html"`   // the queue table's rows
	Joined []joinedView `json:"joined"` // waiting since the last event
}

type joinedView struct {
	Key     string `json:"key"` // spaced
	Machine string `json:"machine"`
}

func (p *Portal) handleQueueEvents(w http.ResponseWriter, r *http.Request) {
	s, err := p.loadSession(r)
	if err != nil {
		// Not a redirect: EventSource would follow it to an HTML page and
		// retry forever. A non-200 answer stops it.
		status := http.StatusUnauthorized
		if !errors.Is(err, errSignedOut) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	release, ok := p.live.acquire(s.User.ID)
	if !ok {
		if p.live.logRefusal(p.cfg.Clock()) {
			p.log.Warn("portal: live queue stream refused: too many open", "user", s.User.ID)
		}
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many live views open; close some tabs", http.StatusTooManyRequests)
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	// Each write moves the server's write deadline (relay/frontdoor: 2 min)
	// on, so the stream lives while it is written to.
	send := func(chunk string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprint(w, chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 5000\n\n") {
		return
	}
	poll := time.NewTicker(p.live.poll)
	defer poll.Stop()
	beat := time.NewTicker(p.live.heartbeat)
	defer beat.Stop()
	end := time.NewTimer(p.live.lifetime)
	defer end.Stop()
	var last string
	var waiting map[string]bool // nil until the first event: nothing "joined" on connect
	for {
		d, err := p.sessionsData(r, s)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
			send("event: signedout\ndata: {}\n\n")
			return
		case err != nil:
			if r.Context().Err() == nil {
				p.log.Warn("portal: live queue", "err", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := p.pages["sessions"].ExecuteTemplate(&buf, "queue-rows", d); err != nil {
			p.log.Error("portal: rendering the queue", "err", err)
			return
		}
		if html := buf.String(); html != last {
			ev := queueEvent{HTML: html, Joined: []joinedView{}}
			now := map[string]bool{}
			for _, o := range d.Sessions {
				if o.State != "waiting" {
					continue
				}
				now[o.Key] = true
				if waiting != nil && !waiting[o.Key] {
					ev.Joined = append(ev.Joined, joinedView{Key: o.Spaced, Machine: o.Hostname})
				}
			}
			waiting = now
			b, _ := json.Marshal(ev) // one line: JSON escapes newlines
			if !send("event: queue\ndata: " + string(b) + "\n\n") {
				return
			}
			last = html
		}
	wait:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-end.C:
				return // the browser reconnects after retry
			case <-beat.C:
				if !send(": ping\n\n") {
					return
				}
			case <-poll.C:
				break wait
			}
		}
	}
}
