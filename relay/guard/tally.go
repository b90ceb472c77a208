package guard

import (
	"sort"
	"sync"
	"time"
)

// Tally aggregates refusals for the audit log: one record per window per
// key with a count, not one row per try, so a flood cannot bury the log.
// At most Max keys are tracked; beyond that, refusals are counted under
// the key's reason with the source "*" (still counted, never lost).
type Tally struct {
	Window time.Duration
	Max    int
	Now    func() time.Time

	mu sync.Mutex
	m  map[TallyKey]*Count
}

// TallyKey is what one aggregated record is about.
type TallyKey struct{ Source, Reason, Account string }

// Overflow is the Source of refusals counted after Max keys were in use.
const Overflow = "*"

// maxSamples bounds the examples (device ids) kept per record.
const maxSamples = 5

// Count is one aggregated record.
type Count struct {
	TallyKey
	N        int
	From, To time.Time // first and last refusal
	Samples  []string  // a few distinct examples (device ids)
}

// Add counts one refusal; sample is an example worth keeping ("" none).
func (t *Tally) Add(k TallyKey, sample string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[TallyKey]*Count)
	}
	now := t.Now()
	c := t.m[k]
	if c == nil && len(t.m) >= t.Max {
		k = TallyKey{Source: Overflow, Reason: k.Reason}
		c = t.m[k]
	}
	if c == nil {
		c = &Count{TallyKey: k, From: now}
		t.m[k] = c
	}
	c.N++
	c.To = now
	if sample != "" && len(c.Samples) < maxSamples && !contains(c.Samples, sample) {
		c.Samples = append(c.Samples, sample)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Due removes and returns the records whose window is over (all of them
// when all is set, at shutdown), oldest first.
func (t *Tally) Due(all bool) []Count {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var out []Count
	for k, c := range t.m {
		if all || !now.Before(c.From.Add(t.Window)) {
			out = append(out, *c)
			delete(t.m, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// Len is the number of open records.
func (t *Tally) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
