package token

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// entries are the cache's entries by key: the targets, which stay, and
// the on-demand tokens in least recently used order, so that both the
// entry that makes room and the idle ones are found without a scan.
//
// One lock guards both, taken exclusively even by a hit, since a hit
// moves its entry to the front of the LRU order. BenchmarkCacheHit: about
// 0.15-0.2 µs a hit, a target's or an on-demand token's, most of it
// time.Now and hashing the key. A lock-free map of the targets made a hit
// from two cores at once 0.09 µs instead of 0.16-0.2: the lock serialises
// hits at about five million a second, a hundred times what the token
// server answers, and costs under 1% of its CPU, so there is none.
type entries struct {
	mu       sync.Mutex
	targets  map[Key]*entry
	onDemand *simplelru.LRU[Key, *entry]
	max      int // entries in all
}

func newEntries(limit int) *entries {
	t := &entries{targets: make(map[Key]*entry), max: limit}
	t.onDemand, _ = simplelru.NewLRU[Key, *entry](limit, nil) // limit is at least 1 (validated)
	return t
}

// use returns k's entry, or nil, noting the use at now.
func (t *entries) use(k Key, now time.Time) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.targets[k]; e != nil {
		return e
	}
	e, _ := t.onDemand.Get(k)
	if e != nil {
		e.lastUsed = now
	}
	return e
}

// peek returns k's entry, or nil, as a look that is no use.
func (t *entries) peek(k Key) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.targets[k]; e != nil {
		return e
	}
	e, _ := t.onDemand.Peek(k)
	return e
}

// addTarget makes k a target.
func (t *entries) addTarget(k Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.targets[k] == nil {
		t.targets[k] = &entry{key: k, target: true}
		t.onDemand.Resize(t.onDemandMax())
	}
}

// onDemandMax is how many on-demand entries fit beside the targets: at
// least one, however many targets there are.
func (t *entries) onDemandMax() int { return max(t.max-len(t.targets), 1) }

// add returns k's entry, creating an on-demand one used at now if there
// is none (created), filled by init before anyone can see it. When the
// cache is full, the least recently used on-demand entry makes room: it
// is returned as evicted.
func (t *entries) add(k Key, now time.Time, init func(*entry)) (e *entry, created bool, evicted *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e = t.targets[k]; e != nil {
		return e, false, nil
	}
	if e, _ = t.onDemand.Peek(k); e != nil {
		return e, false, nil
	}
	if t.onDemand.Len() >= t.onDemandMax() {
		_, evicted, _ = t.onDemand.RemoveOldest()
	}
	e = &entry{key: k, lastUsed: now}
	if init != nil {
		init(e)
	}
	t.onDemand.Add(k, e)
	return e, true, evicted
}

// is reports whether e is the entry of its key.
func (t *entries) is(e *entry) bool { return t.peek(e.key) == e }

// evictIdle removes and returns the on-demand entries nobody used for
// idle, the least recently used first.
func (t *entries) evictIdle(now time.Time, idle time.Duration) []*entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*entry
	for {
		_, e, ok := t.onDemand.GetOldest()
		if !ok || now.Sub(e.lastUsed) < idle {
			return out
		}
		t.onDemand.RemoveOldest()
		out = append(out, e)
	}
}

// nextIdle is when the least recently used on-demand entry becomes idle;
// ok is false when there is none.
func (t *entries) nextIdle(idle time.Duration) (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, e, ok := t.onDemand.GetOldest()
	if !ok {
		return time.Time{}, false
	}
	return e.lastUsed.Add(idle), true
}

// all returns every entry: the targets, then the on-demand ones.
func (t *entries) all() []*entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*entry, 0, len(t.targets)+t.onDemand.Len())
	for _, e := range t.targets {
		out = append(out, e)
	}
	return append(out, t.onDemand.Values()...)
}

func (t *entries) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.targets) + t.onDemand.Len()
}
