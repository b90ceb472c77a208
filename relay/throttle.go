package relay

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/secret"
)

// limiter is a set of token buckets keyed by caller (remote IP, IP+email).
// Callers check blocked before doing the work and call fail when the
// attempt was wrong, so honest traffic is never slowed down.
type limiter struct {
	mu    sync.Mutex
	burst float64
	every time.Duration
	now   func() time.Time
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: every, now: now, m: make(map[string]*bucket)}
}

// refill brings b up to date; l.mu is held.
func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
}

// blocked reports whether key has no token left and how long until it has.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		return false, 0
	}
	l.refill(b, l.now())
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) * float64(l.every))
}

// bucket returns key's bucket, brought up to date (a full new one for a
// new key); l.mu is held.
func (l *limiter) bucket(key string) *bucket {
	now := l.now()
	b := l.m[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	return b
}

// fail takes a token from key's bucket.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	b.tokens = max(0, b.tokens-1)
}

// prune forgets buckets that have refilled completely.
func (l *limiter) prune() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for k, b := range l.m {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.m, k)
		}
	}
}

// take takes a token from key's bucket when one is left: the check and
// the charge in one step, so concurrent attempts cannot all pass a
// bucket that holds fewer tokens. refund gives it back (the attempt
// turned out right, or was never evaluated).
func (l *limiter) take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

func (l *limiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.m[key]; b != nil {
		b.tokens = min(l.burst, b.tokens+1)
	}
}

// source is the budget key of a client address (IPv6 by /64).
func source(ip string) string { return guard.Source(ip) }

// guards are the login and flood defences (see relay/guard).
type guards struct {
	hash      *guard.Gate    // concurrent argon2id hashes
	logins    *guard.Serial  // one login evaluation at a time per user
	backoff   *guard.Backoff // failed logins per (user, source)
	known     *guard.Known   // sources each user logged in from
	agentFail *guard.Tally   // refused agent handshakes, for the audit log
	guestFail *guard.Tally   // refusals at the guests' doors (browser console, signaling), for the audit log
}

// Bounds of the guards' memory and queues.
const (
	hashQueuePerCore = 16               // password checks waiting per core
	hashMaxWait      = 10 * time.Second // then 503
	loginWaiters     = 8                // concurrent attempts waiting per user; more get 429
	backoffMaxPairs  = 100_000
	backoffMax       = time.Hour
	knownPerUser     = 8
	knownMaxUsers    = 100_000
	knownTTL         = 90 * 24 * time.Hour
	agentFailWindow  = time.Minute
	agentFailMaxKeys = 4096
	agentFailBurst   = 30               // refused handshakes per source before 429
	agentFailEvery   = 10 * time.Second // one back per
	maxGuestRefusals = 32               // refused signals on one guest socket before it is closed
)

func newGuards(cfg Config) guards {
	cores := runtime.GOMAXPROCS(0)
	return guards{
		hash:   guard.NewGate(cores, hashQueuePerCore*cores, hashMaxWait),
		logins: guard.NewSerial(loginWaiters),
		backoff: &guard.Backoff{Free: cfg.Limits.LoginBurst, Base: cfg.Limits.LoginEvery, Max: backoffMax,
			Forget: 24 * time.Hour, MaxPairs: backoffMaxPairs, Now: cfg.Clock},
		known:     &guard.Known{PerUser: knownPerUser, MaxUsers: knownMaxUsers, TTL: knownTTL, Now: cfg.Clock},
		agentFail: &guard.Tally{Window: agentFailWindow, Max: agentFailMaxKeys, Now: cfg.Clock},
		guestFail: &guard.Tally{Window: agentFailWindow, Max: agentFailMaxKeys, Now: cfg.Clock},
	}
}

// serialize waits for key (see guard.Serial): one attempt at a time; too
// many waiting already is 429 "what" at once.
func (s *Server) serialize(ctx context.Context, key, what string) (unlock func(), err error) {
	unlock, err = s.gd.logins.Lock(ctx, key)
	if errors.Is(err, guard.ErrBusy) {
		return nil, &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many " + what + " at once; wait and try again", RetryAfter: time.Second}
	}
	return unlock, err
}

// errHashBusy answers a password check the relay has no room for.
var errHashBusy = &apiError{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable,
	Msg: "the relay is checking too many passwords at once; try again in a moment", RetryAfter: time.Second}

// checkPassword checks pw against a stored hash within the hashing cap;
// encoded "" spends the time of a check against nothing (unknown user).
func (s *Server) checkPassword(ctx context.Context, encoded, pw string) (ok bool, err error) {
	gerr := s.gd.hash.Do(ctx, func() {
		if encoded == "" {
			secret.DummyCheck(pw)
			return
		}
		ok, err = secret.CheckPassword(encoded, pw)
	})
	if errors.Is(gerr, guard.ErrBusy) {
		return false, errHashBusy
	} else if gerr != nil {
		return false, gerr
	}
	return ok, err
}

// hashPassword hashes a new password within the hashing cap.
func (s *Server) hashPassword(ctx context.Context, pw string) (h string, err error) {
	gerr := s.gd.hash.Do(ctx, func() { h, err = secret.HashPassword(pw) })
	if errors.Is(gerr, guard.ErrBusy) {
		return "", errHashBusy
	} else if gerr != nil {
		return "", gerr
	}
	return h, err
}

// sourceBlocked is the 429 for a source over its failed-login budget
// (what: "logins" or "attempts"), or nil.
func (s *Server) sourceBlocked(src, what string) error {
	if blocked, retry := s.loginIPLimit.blocked(src); blocked {
		return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many failed " + what + " from this address; wait and try again", RetryAfter: retry}
	}
	return nil
}

// challengeRequired checks a login challenge's shape before any lookup.
func challengeRequired(c string) error {
	if c == "" || len(c) > 256 {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "challenge is required (from POST /api/v1/login)")
	}
	return nil
}
