package sdk

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// loop runs RefreshLoop in a goroutine; the returned channel is closed
// when it returns.
func loop(ctx context.Context, stop <-chan struct{}, next func() time.Duration, refresh func(context.Context), onSkip func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		RefreshLoop(ctx, stop, next, refresh, onSkip)
	}()
	return done
}

func TestRefreshLoopRefreshesAndAsksNextEachTime(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stop := make(chan struct{})
	var asked atomic.Int32
	refreshed := make(chan struct{})
	next := func() time.Duration {
		// The third interval is long: the loop must honour what next says.
		if asked.Add(1) >= 3 {
			return time.Hour
		}
		return time.Millisecond
	}
	done := loop(context.Background(), stop, next, func(context.Context) {
		select {
		case refreshed <- struct{}{}:
		case <-stop:
		}
	}, func() { t.Error("onSkip called with a live context") })
	await(t, refreshed, "the first refresh")
	await(t, refreshed, "the second refresh")
	close(stop)
	await(t, done, "the loop to end")
	if got := asked.Load(); got != 3 {
		t.Errorf("next asked %d times, want 3 (once before each wait)", got)
	}
}

func TestRefreshLoopPassesItsContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "run")
	stop := make(chan struct{})
	got := make(chan any, 1)
	done := loop(ctx, stop, func() time.Duration { return time.Millisecond }, func(ctx context.Context) {
		select {
		case got <- ctx.Value(key{}):
		default:
		}
	}, nil)
	if v := await(t, got, "a refresh"); v != "run" {
		t.Errorf("refresh got context value %v", v)
	}
	close(stop)
	await(t, done, "the loop to end")
}

// Cases 118 and 121: a tick that fires after the run context was cancelled
// is skipped, and the loop keeps waiting for stop.
func TestRefreshLoopSkipsTicksAfterCancellation(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	refreshed := make(chan struct{})
	skipped := make(chan struct{})
	var refreshes atomic.Int32
	done := loop(ctx, stop, func() time.Duration { return time.Millisecond }, func(context.Context) {
		refreshes.Add(1)
		select {
		case refreshed <- struct{}{}:
		case <-stop:
		}
	}, func() {
		select {
		case skipped <- struct{}{}:
		case <-stop:
		}
	})
	await(t, refreshed, "a refresh before cancellation")
	cancel()
	await(t, skipped, "a skipped tick")
	await(t, skipped, "another skipped tick")
	select {
	case <-done:
		t.Fatal("the loop ended on cancellation; it must wait for stop")
	default:
	}
	close(stop)
	await(t, done, "the loop to end")
	if got := refreshes.Load(); got != 1 {
		t.Errorf("%d refreshes, want 1: ticks after cancellation must not refresh", got)
	}
}

func TestRefreshLoopCancelledBeforeTheFirstTick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stop := make(chan struct{})
	// A nil onSkip is allowed; stop as soon as next is asked the second
	// time, that is after the first (skipped) tick.
	var asked atomic.Int32
	ticked := make(chan struct{})
	done := loop(ctx, stop, func() time.Duration {
		if asked.Add(1) == 2 {
			close(ticked)
			return time.Hour
		}
		return time.Millisecond
	}, func(context.Context) { t.Error("refreshed with a cancelled context") }, nil)
	await(t, ticked, "the first tick")
	close(stop)
	await(t, done, "the loop to end")
}

func TestRefreshLoopStopsBeforeAnyTick(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stop := make(chan struct{})
	close(stop)
	done := loop(context.Background(), stop, func() time.Duration { return time.Hour }, func(context.Context) { t.Error("refreshed") }, nil)
	await(t, done, "the loop to end")
}

func TestJitter(t *testing.T) {
	if got := Jitter(0, 0.5); got != 0 {
		t.Errorf("Jitter(0) = %v", got)
	}
	if got := Jitter(-time.Second, 0.5); got != -time.Second {
		t.Errorf("Jitter(-1s) = %v", got)
	}
	if got := Jitter(time.Second, 0); got != time.Second {
		t.Errorf("Jitter(1s, 0) = %v", got)
	}
	d := time.Minute
	seenShorter := false
	for i := 0; i < 1000; i++ {
		got := Jitter(d, 0.25)
		if got > d || got < d-d/4 {
			t.Fatalf("Jitter(1m, 0.25) = %v, want within [45s, 1m]", got)
		}
		seenShorter = seenShorter || got < d
	}
	if !seenShorter {
		t.Error("Jitter never shortened the interval")
	}
}
