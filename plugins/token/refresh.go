package token

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// Bounds of the refresh loop's wait: it never spins, and it looks at the
// cache at least hourly even when nothing is due.
const (
	minWait = 10 * time.Millisecond
	maxWait = time.Hour
)

// errLoopStopped ends the refresh attempts under way when the loop stops.
var errLoopStopped = errors.New("the refresh loop stopped")

// schedule returns when to refresh t: at a random point between 1/2 and
// 2/3 of its lifetime, so that agents started together do not refresh
// together, and no later than minRemaining before it expires, unless that
// is earlier than 1/4 of its lifetime (a token shorter-lived than
// minRemaining would otherwise be refreshed continuously). Never sooner
// than minInterval after it was fetched: that floor holds however short
// the lifetime ZTS gave it. rnd is in [0,1).
func schedule(t *Token, minRemaining, minInterval time.Duration, rnd float64) time.Time {
	life := t.Expiry.Sub(t.Fetched)
	at := t.Fetched.Add(time.Duration(float64(life) * (0.5 + rnd/6)))
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

// refreshLoop is the "token refresh timer" goroutine: it wakes when the
// next token is due (or the cache changed), evicts idle tokens and starts
// an attempt at each due one, until stop is closed. Each token is
// attempted on its own: one that fails backs off in its own schedule and
// holds nothing while it waits, so it never delays another's refresh.
//
// A wake-up after ctx (the run context) was cancelled refreshes nothing:
// it is logged as skipped, as the specification's case 121 wants of the
// last interval before Shutdown.
func (s *store) refreshLoop(ctx context.Context, stop <-chan struct{}) {
	attemptCtx, cancel := context.WithCancelCause(ctx)
	defer func() {
		cancel(errLoopStopped)
		s.attempts.Wait()
	}()
	runDone := ctx.Done()
	timer := time.NewTimer(s.untilNext(time.Now()))
	defer timer.Stop()
	for {
		select {
		case <-stop:
			s.log.Info("Stopped token provider daemon")
			return
		case <-s.cache.changed:
			timer.Reset(s.untilNext(time.Now()))
			continue
		case <-runDone:
			runDone = nil
			s.stopRetries(context.Cause(ctx), time.Now())
			timer.Reset(s.untilNext(time.Now()))
			continue
		case <-timer.C:
		}
		if ctx.Err() != nil {
			due := s.due(time.Now())
			s.postpone(due, time.Now())
			s.log.Info("Skipped to refresh cached tokens: the run is over", "due", len(due), "cause", context.Cause(ctx).Error())
		} else {
			s.refreshDue(attemptCtx, time.Now())
		}
		d := s.untilNext(time.Now())
		s.log.Debug("Will refresh cached tokens", "within", d.Round(time.Millisecond).String())
		timer.Reset(d)
	}
}

// untilNext is how long the loop may sleep: until the earliest refresh or
// idle eviction. Tokens being attempted are left out: their attempt
// schedules them when it ends.
func (s *store) untilNext(now time.Time) time.Duration {
	next := now.Add(maxWait)
	idle := s.cfg.Cache.IdleTimeout.Std()
	for _, e := range s.cache.entries() {
		e.mu.Lock()
		at, busy := e.refreshAt, e.attempting
		e.mu.Unlock()
		if !busy && at.Before(next) {
			next = at
		}
		if !e.target {
			if gone := time.Unix(0, e.lastUsed.Load()).Add(idle); gone.Before(next) {
				next = gone
			}
		}
	}
	return max(next.Sub(now), minWait)
}

// idle reports whether e is an on-demand token nobody asked for lately.
func (s *store) idle(e *entry, now time.Time) bool {
	return !e.target && now.Sub(time.Unix(0, e.lastUsed.Load())) >= s.cfg.Cache.IdleTimeout.Std()
}

// due evicts idle entries (their status records leave with them) and
// returns those whose refresh time has come and that no attempt holds.
func (s *store) due(now time.Time) []*entry {
	var due, evicted []*entry
	for _, e := range s.cache.entries() {
		if s.idle(e, now) {
			s.cache.remove(e)
			evicted = append(evicted, e)
			s.log.Debug("Evicted idle token", "credential", e.key.credential(), "idle_timeout", s.cfg.Cache.IdleTimeout.Std().String())
			continue
		}
		e.mu.Lock()
		ready := !e.attempting && !e.refreshAt.After(now)
		e.mu.Unlock()
		if ready {
			due = append(due, e)
		}
	}
	s.forget(evicted)
	return due
}

// batch counts the outcomes of the attempts one wake-up started; the
// last to end logs them. A batch of retries alone is logged at DEBUG: each
// retry has its own line already.
type batch struct {
	left, ok, failed atomic.Int32
	level            hclog.Level
}

// refreshDue starts an attempt at each due token, each in its own
// goroutine; it does not wait for them.
func (s *store) refreshDue(ctx context.Context, now time.Time) {
	due := s.due(now)
	if len(due) == 0 {
		return
	}
	b := &batch{level: hclog.Debug}
	b.left.Store(int32(len(due)))
	for _, e := range due {
		e.mu.Lock()
		e.attempting = true
		if e.retries == 0 {
			b.level = hclog.Info
		}
		e.mu.Unlock()
	}
	s.log.Log(b.level, "Refreshing tokens", "count", len(due))
	for _, e := range due {
		s.attempts.Add(1)
		go func() {
			defer s.attempts.Done()
			if s.attempt(ctx, e) {
				b.ok.Add(1)
			} else {
				b.failed.Add(1)
			}
			if b.left.Add(-1) == 0 {
				s.log.Log(b.level, "Token cache updated", "succeeded", b.ok.Load(), "failed", b.failed.Load())
			}
		}()
	}
}

// attempt makes one attempt at refreshing e, holding a refresh slot only
// while it waits for ZTS, and schedules e's next attempt by its outcome.
func (s *store) attempt(ctx context.Context, e *entry) bool {
	var err error
	select {
	case s.slots <- struct{}{}:
		err = s.wait(ctx, s.start(e.key)).err
		<-s.slots
	case <-ctx.Done():
		err = fmt.Errorf("waiting for a refresh slot: %w", context.Cause(ctx))
	}
	s.settle(ctx, e, err, time.Now())
	return err == nil
}

// settle ends an attempt at e. A success was scheduled by the fetch; a
// failure is retried after its backoff, until the retries have gone on
// for max_elapsed (or the run is cancelled): then e is tried again after
// the failure interval.
func (s *store) settle(ctx context.Context, e *entry, err error, now time.Time) {
	defer s.wake()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attempting = false
	if err == nil {
		return
	}
	if e.retries == 0 {
		e.retrySince = now
	}
	e.retries++
	e.lastErr = err
	cred := e.key.credential()
	if ctx.Err() != nil {
		s.giveUpLocked(e, fmt.Errorf("%w: %w (%w)", sdk.ErrRetriesStopped, err, context.Cause(ctx)), now)
		return
	}
	p := s.cfg.Refresh.Retry
	wait := retryWait(p, e.retries, rand.Float64())
	if now.Sub(e.retrySince)+wait > p.MaxElapsed.Std() {
		s.giveUpLocked(e, err, now)
		return
	}
	e.refreshAt = now.Add(wait)
	s.log.Info("Retrying token refresh", "credential", cred, "retry_in", wait.Round(time.Millisecond).String())
}

// giveUpLocked ends e's retries with err: e is tried again after the
// failure interval, and until then (and until it expires) its current
// token is still served. e.mu is held.
func (s *store) giveUpLocked(e *entry, err error, now time.Time) {
	again := sdk.Jitter(s.cfg.Refresh.FailureInterval.Std(), 0.25)
	e.refreshAt = now.Add(again)
	e.retries, e.retrySince, e.lastErr = 0, time.Time{}, nil
	s.log.Error("Failed to refresh token after retries", "credential", e.key.credential(), "error", err, "next_attempt_in", again.Round(time.Millisecond).String())
}

// stopRetries ends the retries of the tokens waiting to retry once the run
// is cancelled: their waits stop at once, as sdk.Retry's do. Attempts
// under way end themselves.
func (s *store) stopRetries(cause error, now time.Time) {
	for _, e := range s.cache.entries() {
		e.mu.Lock()
		if !e.attempting && e.retries > 0 {
			s.giveUpLocked(e, fmt.Errorf("%w: %w (%w)", sdk.ErrRetriesStopped, e.lastErr, cause), now)
		}
		e.mu.Unlock()
	}
}

// wake makes the refresh loop look at the cache again.
func (s *store) wake() {
	select {
	case s.cache.changed <- struct{}{}:
	default:
	}
}

// postpone moves the refresh of due entries one failure interval on, so
// that skipped wake-ups come at that pace rather than in a spin.
func (s *store) postpone(due []*entry, now time.Time) {
	later := now.Add(s.cfg.Refresh.FailureInterval.Std())
	for _, e := range due {
		e.mu.Lock()
		e.refreshAt = later
		e.mu.Unlock()
	}
}
