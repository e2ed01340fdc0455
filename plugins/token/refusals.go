package token

import (
	"net/http"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
)

// refusals remembers, per key, that ZTS refused the token lately (no such
// domain, not a member, an invalid request), so that clients asking again
// get the same answer without a ZTS call: a client asking for nonsense in
// a loop must not become ZTS load. It holds at most max keys.
type refusals struct {
	ttl time.Duration // 0: nothing is remembered
	max int

	mu sync.Mutex
	m  map[Key]refusal
}

type refusal struct {
	err   error
	until time.Time
}

func newRefusals(ttl time.Duration, limit int) *refusals {
	return &refusals{ttl: ttl, max: limit, m: make(map[Key]refusal)}
}

// isRefusal reports whether err is ZTS saying no to this request, as
// opposed to failing: asking again soon would get the same answer. A 401
// is left out: it is about the agent's identity, which the cert provider
// may be replacing right now.
func isRefusal(err error) bool {
	switch ztsclient.Status(err) {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// get returns the refusal of k still in force at now, or nil.
func (r *refusals) get(k Key, now time.Time) error {
	if r.ttl <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.m[k]
	switch {
	case !ok:
		return nil
	case !now.Before(f.until):
		delete(r.m, k)
		return nil
	}
	return f.err
}

// put remembers err for k if it is a refusal.
func (r *refusals) put(k Key, err error, now time.Time) {
	if r.ttl <= 0 || !isRefusal(err) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[k]; !ok && len(r.m) >= r.max {
		r.pruneLocked(now)
	}
	r.m[k] = refusal{err: err, until: now.Add(r.ttl)}
}

// pruneLocked makes room: the refusals that ran out go, and if none did,
// an arbitrary one (the map is full of keys clients keep inventing; any
// of them may be asked of ZTS again).
func (r *refusals) pruneLocked(now time.Time) {
	for k, f := range r.m {
		if !now.Before(f.until) {
			delete(r.m, k)
		}
	}
	if len(r.m) < r.max {
		return
	}
	for k := range r.m {
		delete(r.m, k)
		return
	}
}

// forget drops k's refusal: ZTS just issued its token.
func (r *refusals) forget(k Key) {
	if r.ttl <= 0 {
		return
	}
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}
