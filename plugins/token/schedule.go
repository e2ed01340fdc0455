package token

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/sdk"
)

// refreshPolicy decides when tokens are refreshed: a fresh token's next
// refresh, and a failing refresh's retries. It is the seam for a policy
// shared by every provider that calls one ZTS endpoint (a circuit that
// holds their retries while the endpoint is down), which wraps this one.
type refreshPolicy interface {
	// schedule is when to refresh tok, just fetched.
	schedule(tok *Token) time.Time
	// retry is when to attempt again after the failed-th failed attempt
	// of a refresh whose first failure was at since; again is false once
	// the retries are over.
	retry(failed int, since, now time.Time) (at time.Time, again bool)
	// rest is when to start again after the retries are over.
	rest(now time.Time) time.Time
	// spread is when to retry, at the earliest at, a refresh that
	// failed while tok (nil: none) is still good: a token with lifetime
	// to spare need not be refreshed the moment ZTS is back, so a fleet
	// that failed together catches up over the tokens' slack, the most
	// urgent first.
	spread(at time.Time, tok *Token, now time.Time) time.Time
	// held is when to try again a refresh the circuit held until retryIn
	// from now (err), or one that waits for the identity: neither called
	// ZTS, so neither counts as a retry.
	held(err error, now time.Time) (at time.Time, ok bool)
}

// backoffPolicy is the configured policy: refresh ahead of expiry, retry
// with exponential backoff, give up for failure_interval.
type backoffPolicy struct {
	cfg    RefreshConfig
	margin time.Duration  // cache.expiry_margin
	rnd    func() float64 // in [0,1)
}

func newBackoffPolicy(cfg RefreshConfig, margin time.Duration) *backoffPolicy {
	return &backoffPolicy{cfg: cfg, margin: margin, rnd: rand.Float64}
}

// identityPoll is how often a refresh waiting for the identity's files
// looks again: a stat, no ZTS call.
const identityPoll = time.Second

// heldSpread spreads the retries the circuit held over this much after
// its next probe, so that they come just after it.
const heldSpread = time.Second

func (p *backoffPolicy) held(err error, now time.Time) (time.Time, bool) {
	var open *sdk.CircuitOpenError
	var noID *tlsfiles.NoIdentityError
	switch {
	case errors.As(err, &open):
		return now.Add(open.RetryIn + time.Duration(p.rnd()*float64(heldSpread))), true
	case errors.As(err, &noID):
		return now.Add(identityPoll), true
	}
	return time.Time{}, false
}

// spread retries a good token at a random point between a fifth and
// 95% of the time it has left beyond the margin, if that is later than
// at: the retries come closer as the expiry nears.
func (p *backoffPolicy) spread(at time.Time, tok *Token, now time.Time) time.Time {
	if tok == nil {
		return at
	}
	slack := tok.Expiry.Add(-p.margin).Sub(now)
	if slack <= 0 {
		return at
	}
	if later := now.Add(time.Duration(float64(slack) * (0.2 + 0.75*p.rnd()))); later.After(at) {
		return later
	}
	return at
}

func (p *backoffPolicy) schedule(tok *Token) time.Time {
	return schedule(tok, p.cfg.MinRemaining.Std(), p.cfg.MinInterval.Std(), p.rnd())
}

func (p *backoffPolicy) retry(failed int, since, now time.Time) (time.Time, bool) {
	wait := retryWait(p.cfg.Retry, failed, p.rnd())
	if now.Sub(since)+wait > p.cfg.Retry.MaxElapsed.Std() {
		return time.Time{}, false
	}
	return now.Add(wait), true
}

func (p *backoffPolicy) rest(now time.Time) time.Time {
	return now.Add(sdk.Jitter(p.cfg.FailureInterval.Std(), 0.25))
}

// schedule returns when to refresh t: at a random point between 2/5 and
// 4/5 of its lifetime, so that agents started together do not refresh
// together, and a fleet that an outage made refresh together drifts
// apart again within a few lifetimes (docs/zts-load.md); and no later
// than minRemaining before it expires, unless that is earlier than 1/4 of
// its lifetime (a token shorter-lived than minRemaining would otherwise
// be refreshed continuously). Never sooner than minInterval after it was
// fetched: that floor holds however short the lifetime ZTS gave it. rnd
// is in [0,1).
func schedule(t *Token, minRemaining, minInterval time.Duration, rnd float64) time.Time {
	life := t.Expiry.Sub(t.Fetched)
	at := t.Fetched.Add(time.Duration(float64(life) * (0.4 + 0.4*rnd)))
	if late := t.Expiry.Add(-minRemaining); late.Before(at) {
		at = late
		if floor := t.Fetched.Add(life / 4); at.Before(floor) {
			at = floor
		}
	}
	if floor := t.Fetched.Add(minInterval); at.Before(floor) {
		at = floor
	}
	return at
}

// retryWait is the backoff before the attempt that follows the given
// number of failed ones: exponential from the initial wait, ±50% jitter
// (rnd in [0,1)), capped at the longest.
func retryWait(p RetryConfig, failed int, rnd float64) time.Duration {
	d := p.Initial.Std()
	for i := 1; i < failed && d < p.Max.Std(); i++ {
		d *= 2
	}
	return min(time.Duration(float64(d)*(0.5+rnd)), p.Max.Std())
}

// changes is signalled when the refresh loop should look again: an entry
// was added, or an attempt ended.
func (c *cache) changes() <-chan struct{} { return c.changed }

// next is when the refresh loop has something to do next: the earliest
// refresh or idle eviction. Tokens being attempted are left out: their
// attempt schedules them when it ends.
func (c *cache) next(now time.Time) time.Time {
	next := now.Add(maxWait)
	for _, e := range c.entries.all() {
		if at, ok := e.nextRefresh(); ok && at.Before(next) {
			next = at
		}
	}
	if at, ok := c.entries.nextIdle(c.cfg.Cache.IdleTimeout.Std()); ok && at.Before(next) {
		next = at
	}
	return next
}

// due evicts the idle on-demand tokens (their status records leave with
// them), and starts an attempt at each token whose refresh time has come
// and that no attempt holds: it returns them, and whether they are all
// retries.
func (c *cache) due(now time.Time) (due []*entry, retries bool) {
	c.evictIdle(now)
	retries = true
	noIdentity := sync.OnceValue(func() bool { return !c.zts.hasIdentity() })
	for _, e := range c.entries.all() {
		if started, retry := e.begin(now, noIdentity); started {
			due = append(due, e)
			retries = retries && retry
		}
	}
	return due, retries
}

// refresh fetches e's token, for an attempt due returned.
func (c *cache) refresh(ctx context.Context, e *entry) error { return c.fetch(ctx, e.key).err }

// settle ends an attempt at e that due started. A success was scheduled
// by the fetch; a failure is retried when the policy says, until the
// retries are over or the run is cancelled (ctx): then e is tried again
// after a rest.
func (c *cache) settle(ctx context.Context, e *entry, err error, now time.Time) {
	defer c.wake()
	if err == nil {
		e.succeeded()
		return
	}
	stopped := ctx.Err() != nil
	s := e.failed(err, now, c.policy, stopped)
	switch {
	case stopped:
		c.gaveUp(e, fmt.Errorf("%w: %w (%w)", sdk.ErrRetriesStopped, err, context.Cause(ctx)), s.at, now)
	case s.over:
		c.gaveUp(e, err, s.at, now)
	case s.held:
		c.log.Debug("Token refresh held", "credential", e.key.credential(), "error", err, "retry_in", s.at.Sub(now).Round(time.Millisecond).String())
	default:
		c.log.Info("Retrying token refresh", "credential", e.key.credential(), "retry_in", s.at.Sub(now).Round(time.Millisecond).String())
	}
}

func (c *cache) gaveUp(e *entry, err error, again, now time.Time) {
	c.log.Error("Failed to refresh token after retries", "credential", e.key.credential(), "error", err,
		"next_attempt_in", again.Sub(now).Round(time.Millisecond).String())
}

// stopRetries ends the retries of the tokens waiting to retry once the run
// is cancelled: their waits stop at once, as sdk.Retry's do. Attempts
// under way end themselves.
func (c *cache) stopRetries(cause error, now time.Time) {
	for _, e := range c.entries.all() {
		if s, ok := e.stopRetries(now, c.policy); ok {
			c.gaveUp(e, fmt.Errorf("%w: %w (%w)", sdk.ErrRetriesStopped, s.lastErr, cause), s.at, now)
		}
	}
}

// evictIdle evicts the on-demand tokens nobody asked for within the idle
// timeout; their status records leave with them.
func (c *cache) evictIdle(now time.Time) {
	idle := c.cfg.Cache.IdleTimeout.Std()
	evicted := c.entries.evictIdle(now, idle)
	for _, e := range evicted {
		c.log.Debug("Evicted idle token", "credential", e.key.credential(), "idle_timeout", idle.String())
	}
	c.forget(evicted)
}

// postpone evicts as due does, and moves the refresh of every due token
// one failure interval on, so that wake-ups skipped after the run was
// cancelled come at that pace rather than in a spin.
func (c *cache) postpone(now time.Time) (due int) {
	c.evictIdle(now)
	later := now.Add(c.cfg.Refresh.FailureInterval.Std())
	for _, e := range c.entries.all() {
		if at, ok := e.nextRefresh(); ok && !at.After(now) {
			e.postpone(later)
			due++
		}
	}
	return due
}
