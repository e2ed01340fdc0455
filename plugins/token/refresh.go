package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Bounds of the refresh loop's wait: it never spins, and it looks at the
// cache at least hourly even when nothing is due.
const (
	minWait = 10 * time.Millisecond
	maxWait = time.Hour
)

// errLoopStopped ends the refresh attempts under way when the loop stops.
var errLoopStopped = errors.New("the refresh loop stopped")

// refresher keeps a cache's tokens fresh: it wakes when the cache says
// something is due, and attempts each due token on its own, at most
// refresh.concurrency ZTS calls at once.
type refresher struct {
	cache *cache
	log   hclog.Logger
	// slots bounds the attempts' ZTS calls in flight; attempts counts the
	// attempt goroutines.
	slots    chan struct{}
	attempts sync.WaitGroup
}

func newRefresher(c *cache, log hclog.Logger) *refresher {
	return &refresher{cache: c, log: log, slots: make(chan struct{}, max(c.cfg.Refresh.Concurrency, 1))}
}

// loop is the "token refresh timer" goroutine: it wakes when the next
// token is due (or the cache changed), and starts an attempt at each due
// one, until stop is closed. Each token is attempted on its own: one that
// fails backs off in its own schedule and holds nothing while it waits,
// so it never delays another's refresh.
//
// A wake-up after ctx (the run context) was cancelled refreshes nothing:
// it is logged as skipped, as the specification's case 121 wants of the
// last interval before Shutdown.
func (r *refresher) loop(ctx context.Context, stop <-chan struct{}) {
	attemptCtx, cancel := context.WithCancelCause(ctx)
	defer func() {
		cancel(errLoopStopped)
		r.attempts.Wait()
	}()
	runDone := ctx.Done()
	timer := time.NewTimer(r.untilNext())
	defer timer.Stop()
	for {
		select {
		case <-stop:
			r.log.Info("Stopped token provider daemon")
			return
		case <-r.cache.changes():
			timer.Reset(r.untilNext())
			continue
		case <-runDone:
			runDone = nil
			r.cache.stopRetries(context.Cause(ctx), time.Now())
			timer.Reset(r.untilNext())
			continue
		case <-timer.C:
		}
		if ctx.Err() != nil {
			due := r.cache.postpone(time.Now())
			r.log.Info("Skipped to refresh cached tokens: the run is over", "due", due, "cause", context.Cause(ctx).Error())
		} else {
			r.refreshDue(attemptCtx, time.Now())
		}
		d := r.untilNext()
		r.log.Debug("Will refresh cached tokens", "within", d.Round(time.Millisecond).String())
		timer.Reset(d)
	}
}

// untilNext is how long the loop may sleep.
func (r *refresher) untilNext() time.Duration {
	now := time.Now()
	return max(r.cache.next(now).Sub(now), minWait)
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
func (r *refresher) refreshDue(ctx context.Context, now time.Time) {
	due, retries := r.cache.due(now)
	if len(due) == 0 {
		return
	}
	b := &batch{level: hclog.Info}
	if retries {
		b.level = hclog.Debug
	}
	b.left.Store(int32(len(due))) //nolint:gosec // G115: at most cache.max_entries, an int32 too
	r.log.Log(b.level, "Refreshing tokens", "count", len(due))
	for _, e := range due {
		r.attempts.Add(1)
		go func() {
			defer r.attempts.Done()
			if r.attempt(ctx, e) {
				b.ok.Add(1)
			} else {
				b.failed.Add(1)
			}
			if b.left.Add(-1) == 0 {
				r.log.Log(b.level, "Token cache updated", "succeeded", b.ok.Load(), "failed", b.failed.Load())
			}
		}()
	}
}

// attempt makes one attempt at refreshing e, holding a refresh slot only
// while it waits for ZTS, and has the cache schedule the next by its
// outcome.
func (r *refresher) attempt(ctx context.Context, e *entry) bool {
	var err error
	select {
	case r.slots <- struct{}{}:
		err = r.cache.refresh(ctx, e)
		<-r.slots
	case <-ctx.Done():
		err = fmt.Errorf("waiting for a refresh slot: %w", context.Cause(ctx))
	}
	r.cache.settle(ctx, e, err, time.Now())
	return err == nil
}
