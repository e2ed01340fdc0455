package token

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sia-agent/sia-agent/sdk"
)

// Bounds of the refresh loop's wait: it never spins, and it looks at the
// cache at least hourly even when nothing is due.
const (
	minWait = 10 * time.Millisecond
	maxWait = time.Hour
)

// schedule returns when to refresh t: at a random point between 1/2 and
// 2/3 of its lifetime, so that agents started together do not refresh
// together, and no later than minRemaining before it expires, unless that
// is earlier than 1/4 of its lifetime (a token shorter-lived than
// minRemaining would otherwise be refreshed continuously). rnd is in [0,1).
func schedule(t *Token, minRemaining time.Duration, rnd float64) time.Time {
	life := t.Expiry.Sub(t.Fetched)
	at := t.Fetched.Add(time.Duration(float64(life) * (0.5 + rnd/6)))
	if late := t.Expiry.Add(-minRemaining); late.Before(at) {
		at = late
		if floor := t.Fetched.Add(life / 4); at.Before(floor) {
			at = floor
		}
	}
	return at
}

// refreshLoop is the "token refresh timer" goroutine: it wakes when the
// next token is due (or the cache gained an entry), evicts idle tokens and
// refreshes the due ones, until stop is closed.
//
// A wake-up after ctx (the run context) was cancelled refreshes nothing:
// it is logged as skipped, as the specification's case 121 wants of the
// last interval before Shutdown.
func (s *store) refreshLoop(ctx context.Context, stop <-chan struct{}) {
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
		case <-timer.C:
		}
		if ctx.Err() != nil {
			due := s.due(time.Now())
			s.postpone(due, time.Now())
			s.log.Info("Skipped to refresh cached tokens: the run is over", "due", len(due), "cause", context.Cause(ctx).Error())
		} else {
			s.refreshDue(ctx, time.Now())
		}
		d := s.untilNext(time.Now())
		s.log.Debug("Will refresh cached tokens", "within", d.Round(time.Millisecond).String())
		timer.Reset(d)
	}
}

// untilNext is how long the loop may sleep: until the earliest refresh or
// idle eviction.
func (s *store) untilNext(now time.Time) time.Duration {
	next := now.Add(maxWait)
	idle := s.cfg.Cache.IdleTimeout.Std()
	for _, e := range s.cache.entries() {
		e.mu.Lock()
		at := e.refreshAt
		e.mu.Unlock()
		if at.Before(next) {
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

// due evicts idle entries and returns those whose refresh time has come.
func (s *store) due(now time.Time) []*entry {
	var due []*entry
	for _, e := range s.cache.entries() {
		if s.idle(e, now) {
			s.cache.remove(e)
			s.log.Debug("Evicted idle token", "credential", e.key.credential(), "idle_timeout", s.cfg.Cache.IdleTimeout.Std().String())
			continue
		}
		e.mu.Lock()
		ready := !e.refreshAt.After(now)
		e.mu.Unlock()
		if ready {
			due = append(due, e)
		}
	}
	return due
}

// refreshDue refreshes the due tokens, a bounded number at a time.
func (s *store) refreshDue(ctx context.Context, now time.Time) {
	due := s.due(now)
	if len(due) == 0 {
		return
	}
	s.log.Info("Refreshing tokens", "count", len(due))
	var ok, failed atomic.Int32
	var g errgroup.Group
	g.SetLimit(s.cfg.Refresh.Concurrency)
	for _, e := range due {
		g.Go(func() error {
			if s.refresh(ctx, e) {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	s.log.Info("Token cache updated", "succeeded", ok.Load(), "failed", failed.Load())
}

// refresh fetches e with retries. When they give up (or ctx stops them),
// e is tried again after the failure interval; until then, and until it
// expires, its current token is still served.
func (s *store) refresh(ctx context.Context, e *entry) bool {
	cred := e.key.credential()
	policy := s.cfg.Refresh.Retry.policy()
	err := sdk.Retry(ctx, policy, func(ctx context.Context) error {
		return s.wait(ctx, s.start(e.key)).err
	}, func(_ error, wait time.Duration) {
		s.log.Info("Retrying token refresh", "credential", cred, "retry_in", wait.Round(time.Millisecond).String())
	})
	if err == nil {
		return true
	}
	again := sdk.Jitter(s.cfg.Refresh.FailureInterval.Std(), 0.25)
	e.mu.Lock()
	e.refreshAt = time.Now().Add(again)
	e.mu.Unlock()
	s.log.Error("Failed to refresh token after retries", "credential", cred, "error", err, "next_attempt_in", again.Round(time.Millisecond).String())
	return false
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
