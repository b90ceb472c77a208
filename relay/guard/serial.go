package guard

import (
	"context"
	"sync"
)

// Serial lets one caller at a time hold a key (a user's login), so a
// check-then-count sequence cannot be raced by concurrent requests. At
// most maxWaiters wait per key; more get ErrBusy. Keys are forgotten when
// nobody holds or waits for them, so memory follows the concurrency.
type Serial struct {
	maxWaiters int
	mu         sync.Mutex
	m          map[string]*serialEntry
}

type serialEntry struct {
	ch    chan struct{} // holds a token while the key is held
	users int           // the holder and the waiters
}

// NewSerial returns a Serial with maxWaiters waiters per key.
func NewSerial(maxWaiters int) *Serial {
	return &Serial{maxWaiters: max(0, maxWaiters), m: make(map[string]*serialEntry)}
}

// Lock waits for key and returns the function that releases it.
func (s *Serial) Lock(ctx context.Context, key string) (unlock func(), err error) {
	s.mu.Lock()
	e := s.m[key]
	if e == nil {
		e = &serialEntry{ch: make(chan struct{}, 1)}
		s.m[key] = e
	}
	if e.users > s.maxWaiters {
		s.mu.Unlock()
		return nil, ErrBusy
	}
	e.users++
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		if e.users--; e.users == 0 {
			delete(s.m, key)
		}
		s.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-e.ch
			leave()
		})
	}, nil
}

// Len is the number of keys held or waited for.
func (s *Serial) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
