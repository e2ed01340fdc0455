package sdk

import (
	"context"
	"math/rand/v2"
	"time"
)

// RefreshLoop runs refresh each time the interval returned by next elapses,
// until stop is closed. next is asked again after every run, so a provider
// can schedule by its credentials' expiry.
//
// A tick that fires after ctx (the run context) was cancelled does not
// refresh: onSkip is called instead and the loop keeps waiting for stop, so
// the last interval before Shutdown is skipped rather than run (the
// lifecycle's cases 118 and 121). In a goroutine of Group.GoContext, stop
// is the goroutine's ctx.Done().
func RefreshLoop(ctx context.Context, stop <-chan struct{}, next func() time.Duration, refresh func(ctx context.Context), onSkip func()) {
	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		if ctx.Err() != nil {
			if onSkip != nil {
				onSkip()
			}
		} else {
			refresh(ctx)
		}
		timer.Reset(next())
	}
}

// Jitter returns d shortened by a random fraction of up to frac (0 ≤ frac
// < 1), so that many agents do not refresh in step.
func Jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	return d - time.Duration(rand.Float64()*frac*float64(d)) //nolint:gosec // G404: spreads refreshes, guards no secret
}
