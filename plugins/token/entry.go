package token

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
)

// entry is a cached token and its refresh state. Only the cache changes
// it, through the methods below: the token is swapped atomically, so that
// a refresh never blocks a request; the rest is guarded by mu.
type entry struct {
	key    Key
	target bool // configured: never evicted, written to files

	tok atomic.Pointer[Token]

	// lastUsed is when a request last asked for it, for idle eviction:
	// guarded by the entry table's lock, as its place in the LRU order.
	lastUsed time.Time

	mu         sync.Mutex
	lastUpdate time.Time // last successful fetch
	refreshAt  time.Time // when the refresh loop attempts it next
	// The refresh loop's state of this token: an attempt is under way,
	// or the number of attempts of this refresh that failed, since when,
	// and the last error.
	attempting bool
	retries    int
	retrySince time.Time
	lastErr    error
	// awaitingIdentity: the last attempt found no identity to fetch with;
	// the next is only started once there is one.
	awaitingIdentity bool
}

// fill stores a token just fetched and when it is to be refreshed; a
// refresh that was failing is over.
func (e *entry) fill(tok *Token, next time.Time) {
	e.tok.Store(tok)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUpdate, e.refreshAt = tok.Fetched, next
	e.retries, e.retrySince, e.lastErr = 0, time.Time{}, nil
	e.awaitingIdentity = false
}

// times returns the last successful fetch and the next refresh, for
// status records.
func (e *entry) times() (last, next time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastUpdate, e.refreshAt
}

// nextRefresh is when e is due, unless an attempt holds it (its end
// schedules it).
func (e *entry) nextRefresh() (at time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refreshAt, !e.attempting
}

// begin starts an attempt at e if it is due at now and no attempt holds
// it; retry says whether the attempt retries a failed one. An entry that
// waits for the identity is not started while noIdentity says it is still
// missing, but looked at again identityPoll later: that costs a stat, where
// an attempt costs a goroutine, a context and a fetch that fails.
func (e *entry) begin(now time.Time, noIdentity func() bool) (started, retry bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attempting || e.refreshAt.After(now) {
		return false, false
	}
	if e.awaitingIdentity && noIdentity() {
		e.refreshAt = now.Add(identityPoll)
		return false, false
	}
	e.attempting = true
	return true, e.retries > 0
}

// retryState says how a refresh that failed goes on: retried at the
// returned time, or given up (over) until then. held: the attempt did not
// call ZTS (the circuit held it, or the identity is missing).
type retryState struct {
	at      time.Time
	over    bool
	held    bool
	lastErr error // of the refresh given up
}

// failed ends an attempt that failed with err at now: the policy says
// when the next one comes, or that the retries are over. stopped ends
// them regardless (the run was cancelled).
func (e *entry) failed(err error, now time.Time, p refreshPolicy, stopped bool) retryState {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempting = false
	var noID *tlsfiles.NoIdentityError
	e.awaitingIdentity = !stopped && errors.As(err, &noID)
	if !stopped {
		if at, ok := p.held(err, now); ok {
			e.refreshAt = p.spread(at, e.tok.Load(), now)
			e.lastErr = err
			return retryState{at: e.refreshAt, held: true}
		}
	}
	if e.retries == 0 {
		e.retrySince = now
	}
	e.retries++
	e.lastErr = err
	if !stopped {
		if at, again := p.retry(e.retries, e.retrySince, now); again {
			e.refreshAt = p.spread(at, e.tok.Load(), now)
			return retryState{at: e.refreshAt}
		}
	}
	return e.giveUpLocked(now, p)
}

// succeeded ends an attempt whose fetch filled e (and scheduled it).
func (e *entry) succeeded() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempting = false
}

// stopRetries ends the retries of e if it waits to retry, at once.
func (e *entry) stopRetries(now time.Time, p refreshPolicy) (retryState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attempting || e.retries == 0 {
		return retryState{}, false
	}
	return e.giveUpLocked(now, p), true
}

// giveUpLocked ends e's retries: it is attempted again when the policy
// says, and until then (and until it expires) its token is still served.
func (e *entry) giveUpLocked(now time.Time, p refreshPolicy) retryState {
	s := retryState{at: p.spread(p.rest(now), e.tok.Load(), now), over: true, lastErr: e.lastErr}
	e.refreshAt = s.at
	e.retries, e.retrySince, e.lastErr = 0, time.Time{}, nil
	return s
}

// postpone moves e's next attempt to at.
func (e *entry) postpone(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshAt = at
}

// size is the bytes the cache holds for e: its key's strings and its
// token. The structs, the map and the LRU list are not counted: a few
// hundred bytes an entry that the runtime's own metrics show.
func (e *entry) size() int {
	k := e.key
	return len(k.Domain) + len(k.Roles) + len(k.ProxyForPrincipal) + e.tok.Load().size()
}
