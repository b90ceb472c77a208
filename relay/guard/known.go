package guard

import (
	"sync"
	"time"
)

// Known remembers the sources each user logged in from successfully, so
// a correct password from such a source still works while the user is
// locked against strangers. It is bounded: PerUser sources per user and
// MaxUsers users, the least recently used going first; entries older
// than TTL do not count.
type Known struct {
	PerUser  int
	MaxUsers int
	TTL      time.Duration
	Now      func() time.Time

	mu sync.Mutex
	m  map[string][]seen
}

type seen struct {
	source string
	at     time.Time
}

// Add records a successful login of user from source.
func (k *Known) Add(user, source string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string][]seen)
	}
	now := k.Now()
	list, ok := k.m[user]
	if !ok && len(k.m) >= k.MaxUsers {
		k.evictUser()
	}
	out := []seen{{source, now}}
	for _, s := range list {
		if s.source != source && len(out) < k.PerUser {
			out = append(out, s)
		}
	}
	k.m[user] = out
}

// evictUser drops the user whose newest login is the oldest; k.mu held.
func (k *Known) evictUser() {
	var victim string
	var at time.Time
	for u, list := range k.m {
		if len(list) == 0 || at.IsZero() || list[0].at.Before(at) {
			victim = u
			if len(list) == 0 {
				break
			}
			at = list[0].at
		}
	}
	delete(k.m, victim)
}

// Has reports whether user logged in from source within TTL.
func (k *Known) Has(user, source string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.m[user] {
		if s.source == source {
			return k.Now().Sub(s.at) < k.TTL
		}
	}
	return false
}

// Prune forgets logins older than TTL.
func (k *Known) Prune() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.Now()
	for u, list := range k.m {
		n := 0
		for _, s := range list {
			if now.Sub(s.at) < k.TTL {
				list[n] = s
				n++
			}
		}
		if n == 0 {
			delete(k.m, u)
		} else {
			k.m[u] = list[:n]
		}
	}
}
