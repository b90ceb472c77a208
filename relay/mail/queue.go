package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/internal/fsutil"
)

// Queue wraps a Sender (normally SMTP) so that a mail server outage loses
// nothing: a message the server cannot take now is spooled as a file and
// Run retries it with capped exponential backoff. Spooled files survive a
// restart; Run picks them up when it starts. Delivery is at least once: a
// crash between the server's acceptance and the spool file's removal
// sends that message again.
type Queue struct {
	next     Sender
	dir      string
	failed   string // messages refused for good, kept for the administrator
	log      *slog.Logger
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	min, max time.Duration
	wake     chan struct{}
}

// QueueConfig configures a Queue.
type QueueConfig struct {
	Dir        string        // spool directory, created 0700
	MinBackoff time.Duration // first retry delay; default 30s
	MaxBackoff time.Duration // cap; default 30m

	// Now names spool files; After waits between retries. Tests inject
	// them; nil means the real clock.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// spooled is a spool file's content.
type spooled struct {
	Message   Message   `json:"message"`
	Queued    time.Time `json:"queued"`
	LastError string    `json:"last_error"`
}

// NewQueue creates the spool directory (and its failed/ subdirectory).
func NewQueue(cfg QueueConfig, next Sender, log *slog.Logger) (*Queue, error) {
	if next == nil {
		return nil, errors.New("mail: queue: no sender")
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: queue: no spool directory", ErrOutbox)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Minute, cfg.MinBackoff)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		next: next, dir: cfg.Dir, failed: filepath.Join(cfg.Dir, "failed"), log: log,
		now: cfg.Now, after: cfg.After, min: cfg.MinBackoff, max: cfg.MaxBackoff,
		wake: make(chan struct{}, 1),
	}
	for _, d := range []string{q.dir, q.failed} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("%w: queue: %w", ErrOutbox, err)
		}
	}
	return q, nil
}

// Send tries the wrapped sender once. A nil error means the message was
// either delivered or spooled for Run to retry. Invalid messages and
// permanent refusals (5xx) are returned, not spooled: retrying cannot help
// and the caller should know now.
func (q *Queue) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	err := q.next.Send(ctx, m)
	if err == nil || Permanent(err) {
		return err
	}
	if ctx.Err() != nil {
		// The caller gave up; it did not ask us to keep the message.
		return err
	}
	name, serr := q.spool(spooled{Message: m, Queued: q.now(), LastError: err.Error()})
	if serr != nil {
		return errors.Join(err, serr)
	}
	q.log.Warn("mail server unavailable, message spooled for retry", "err", err, "spool", name, "to", m.To)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

func (q *Queue) spool(s spooled) (string, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("mail: queue: %w", err)
	}
	id, err := messageID("x@x") // 128 random bits; the domain is dropped
	if err != nil {
		return "", err
	}
	name := s.Queued.UTC().Format("20060102T150405.000000000Z") + "-" + id[:strings.IndexByte(id, '@')] + ".json"
	path := filepath.Join(q.dir, name)
	if err := fsutil.WriteOnce(path, data); err != nil {
		return "", fmt.Errorf("%w: queue: %w", ErrOutbox, err)
	}
	return path, nil
}

// Pending lists the spooled files, oldest first.
func (q *Queue) Pending() ([]string, error) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: queue: %w", ErrOutbox, err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, filepath.Join(q.dir, e.Name()))
		}
	}
	slices.Sort(names)
	return names, nil
}

// Run retries spooled messages until ctx ends: at once on start (spool
// files from before a restart), when Send spools a new one, and after a
// failure with a backoff doubling from MinBackoff up to MaxBackoff.
func (q *Queue) Run(ctx context.Context) error {
	backoff := q.min
	for {
		ok := q.flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var timer <-chan time.Time
		if ok {
			backoff = q.min
		} else {
			timer = q.after(backoff)
			backoff = min(2*backoff, q.max)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
		case <-q.wake:
			if !ok {
				// A new message does not cut a backoff short: the
				// server is still down as far as we know.
				select {
				case <-ctx.Done():
					return nil
				case <-timer:
				}
			}
		}
	}
}

// flush tries every spooled message once, oldest first, and stops at the
// first transient failure (the server is down; the rest would fail too).
// It reports whether the spool is now empty of retryable messages.
func (q *Queue) flush(ctx context.Context) bool {
	names, err := q.Pending()
	if err != nil {
		q.log.Error("mail queue: cannot list spool", "err", err)
		return false
	}
	for _, path := range names {
		if ctx.Err() != nil {
			return false
		}
		data, err := os.ReadFile(path)
		if err != nil {
			q.log.Error("mail queue: cannot read spooled message", "path", path, "err", err)
			return false
		}
		var s spooled
		if err := json.Unmarshal(data, &s); err != nil {
			q.fail(path, fmt.Errorf("not a spooled message: %w", err))
			continue
		}
		err = q.next.Send(ctx, s.Message)
		switch {
		case err == nil:
			if rerr := os.Remove(path); rerr != nil {
				q.log.Error("mail queue: delivered but cannot remove spool file; it will be sent again", "path", path, "err", rerr)
			} else {
				q.log.Info("mail queue: spooled message delivered", "to", s.Message.To, "queued", s.Queued)
			}
		case Permanent(err):
			q.fail(path, err)
		default:
			q.log.Warn("mail queue: retry failed", "path", path, "err", err)
			return false
		}
	}
	return true
}

// fail moves a message that can never be delivered to failed/, where an
// administrator can read it; it is not deleted.
func (q *Queue) fail(path string, err error) {
	dst := filepath.Join(q.failed, filepath.Base(path))
	if rerr := os.Rename(path, dst); rerr != nil {
		q.log.Error("mail queue: cannot move undeliverable message", "path", path, "err", rerr)
		return
	}
	q.log.Error("mail queue: message refused for good, moved to failed/", "path", dst, "err", err)
}
