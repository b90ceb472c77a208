package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-rc/tandem/internal/fsutil"
)

// DefaultFrom is the sender the outbox uses when none is configured.
var DefaultFrom = Address{Name: "Tandem", Addr: "tandem@localhost"}

// Outbox is the embedded default sender: each message becomes one .eml
// file (the same bytes SMTP would send) in a directory, and its path is
// logged so an administrator without a mail server can still read invites
// and codes.
type Outbox struct {
	dir  string
	from Address
	log  *slog.Logger
	now  func() time.Time
}

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	Dir  string
	From Address          // default DefaultFrom
	Now  func() time.Time // default time.Now; names and Date header
}

// NewOutbox creates dir (0700) if needed and checks it is a directory.
func NewOutbox(cfg OutboxConfig, log *slog.Logger) (*Outbox, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrOutbox)
	}
	if cfg.From == (Address{}) {
		cfg.From = DefaultFrom
	}
	if err := cfg.From.validate(); err != nil {
		return nil, fmt.Errorf("mail: outbox: from: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{dir: cfg.Dir, from: cfg.From, log: log, now: cfg.Now}
	if err := o.ensureDir(); err != nil {
		return nil, err
	}
	return o, nil
}

// Dir is the directory messages are written to.
func (o *Outbox) Dir() string { return o.dir }

func (o *Outbox) ensureDir() error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	fi, err := os.Stat(o.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrOutbox, o.dir)
	}
	return nil
}

// Send renders m and writes it atomically as a new 0600 file named
// <UTC time>-<random>.eml, so names sort by time and never collide; an
// existing file is never overwritten.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.now()
	r, err := render(m, o.from, now)
	if err != nil {
		return err
	}
	path, err := o.write(now, r.bytes)
	if err != nil {
		return err
	}
	o.log.Info("mail written to outbox", "path", path, "to", r.to, "message_id", r.id)
	return nil
}

// write stores data under a fresh name. 96 random bits make a clash
// practically impossible, and WriteOnce links rather than renames, so
// even then the existing file would be kept; the size check below turns
// that case into an error instead of a silent loss.
func (o *Outbox) write(now time.Time, data []byte) (string, error) {
	if err := o.ensureDir(); err != nil {
		return "", err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:]) + ".eml"
	path := filepath.Join(o.dir, name)
	if err := fsutil.WriteOnce(path, data); err != nil {
		return "", fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	if fi.Size() != int64(len(data)) {
		return "", fmt.Errorf("%w: %s already existed", ErrOutbox, path)
	}
	return path, nil
}
