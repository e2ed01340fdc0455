package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var errFlaky = errors.New("zts: 503")

func TestRetrySucceedsAfterFailures(t *testing.T) {
	var tries int
	var waits []time.Duration
	p := RetryPolicy{Initial: time.Millisecond, Multiplier: 4, Jitter: 0.01}
	err := Retry(context.Background(), p, func(context.Context) error {
		tries++
		if tries < 4 {
			return errFlaky
		}
		return nil
	}, func(err error, wait time.Duration) {
		if !errors.Is(err, errFlaky) {
			t.Errorf("onRetry heard %v", err)
		}
		waits = append(waits, wait)
	})
	if err != nil {
		t.Fatalf("Retry = %v", err)
	}
	if tries != 4 || len(waits) != 3 {
		t.Fatalf("%d tries, %d waits; want 4 and 3", tries, len(waits))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Errorf("waits do not increase: %v", waits)
		}
	}
	if waits[0] < 900*time.Microsecond || waits[0] > 1100*time.Microsecond {
		t.Errorf("first wait %v, want about the initial 1ms", waits[0])
	}
}

func TestRetryPassesItsContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	err := Retry(ctx, RetryPolicy{}, func(ctx context.Context) error {
		if ctx.Value(key{}) != "v" {
			return Permanent(errors.New("not my context"))
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// Retries stop the moment the run context is cancelled, not after the
// wait under way: Retry returns op's last error with ErrRetriesStopped and
// the cause.
func TestRetryStopsWhenContextCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cause := errors.New("received signal: interrupt")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	waiting := make(chan time.Duration, 1)
	var tries atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- Retry(ctx, RetryPolicy{Initial: time.Hour, Max: time.Hour, MaxElapsed: 10 * time.Hour}, func(context.Context) error {
			return fmt.Errorf("try %d: %w", tries.Add(1), errFlaky)
		}, func(_ error, wait time.Duration) { waiting <- wait })
	}()
	if wait := await(t, waiting, "the first wait"); wait < 30*time.Minute {
		t.Fatalf("wait %v, want about an hour", wait)
	}
	cancel(cause)
	err := await(t, done, "Retry to return after cancellation")
	if tries.Load() != 1 {
		t.Errorf("%d tries, want 1", tries.Load())
	}
	if !errors.Is(err, ErrRetriesStopped) || !errors.Is(err, errFlaky) || !errors.Is(err, cause) {
		t.Errorf("Retry = %v; want it to wrap ErrRetriesStopped, the last error and the cause", err)
	}
	if want := "retries stopped: try 1: zts: 503 (received signal: interrupt)"; err.Error() != want {
		t.Errorf("Retry = %q, want %q", err, want)
	}
}

func TestRetryWithContextAlreadyCancelledTriesOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tries := 0
	err := Retry(ctx, RetryPolicy{Initial: time.Millisecond}, func(context.Context) error {
		tries++
		return errFlaky
	}, func(error, time.Duration) { t.Error("onRetry called") })
	if tries != 1 || !errors.Is(err, ErrRetriesStopped) || !errors.Is(err, errFlaky) || !errors.Is(err, context.Canceled) {
		t.Errorf("%d tries, Retry = %v", tries, err)
	}
}

func TestRetryPermanent(t *testing.T) {
	denied := errors.New("403: not a member")
	tries := 0
	err := Retry(context.Background(), RetryPolicy{Initial: time.Millisecond}, func(context.Context) error {
		tries++
		return Permanent(fmt.Errorf("role token: %w", denied))
	}, func(error, time.Duration) { t.Error("onRetry called for a permanent error") })
	if tries != 1 {
		t.Errorf("%d tries, want 1", tries)
	}
	if !errors.Is(err, denied) || errors.Is(err, ErrRetriesStopped) || err.Error() != "role token: 403: not a member" {
		t.Errorf("Retry = %v", err)
	}
}

func TestRetryMaxTries(t *testing.T) {
	tries, notified := 0, 0
	err := Retry(context.Background(), RetryPolicy{Initial: time.Microsecond, MaxTries: 3}, func(context.Context) error {
		tries++
		return fmt.Errorf("try %d: %w", tries, errFlaky)
	}, func(error, time.Duration) { notified++ })
	if tries != 3 || notified != 2 {
		t.Errorf("%d tries, %d notifications; want 3 and 2", tries, notified)
	}
	if err == nil || err.Error() != "try 3: zts: 503" || errors.Is(err, ErrRetriesStopped) {
		t.Errorf("Retry = %v, want the last error as it is", err)
	}
}

func TestRetryMaxElapsed(t *testing.T) {
	tries := 0
	err := Retry(context.Background(), RetryPolicy{Initial: time.Hour, MaxElapsed: time.Millisecond}, func(context.Context) error {
		tries++
		return errFlaky
	}, func(error, time.Duration) { t.Error("waited past MaxElapsed") })
	if tries != 1 || !errors.Is(err, errFlaky) {
		t.Errorf("%d tries, Retry = %v", tries, err)
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	b := RetryPolicy{}.backOff()
	if b.initial != time.Second || b.max != time.Minute || b.multiplier != 2 || b.jitter != 0.5 {
		t.Errorf("defaults: %+v", b)
	}
	b = RetryPolicy{Initial: 2 * time.Second, Max: 10 * time.Second, Multiplier: 3, Jitter: 0.1}.backOff()
	if b.initial != 2*time.Second || b.max != 10*time.Second || b.multiplier != 3 || b.jitter != 0.1 {
		t.Errorf("custom: %+v", b)
	}
	// Out-of-range values fall back to the defaults.
	b = RetryPolicy{Multiplier: 0.5, Jitter: 1.5}.backOff()
	if b.multiplier != 2 || b.jitter != 0.5 {
		t.Errorf("out of range: %+v", b)
	}
}

// The schedule, with the random draw fixed: the interval grows by the
// multiplier up to Max, and the random range is cut at Max.
func TestRetryPolicySchedule(t *testing.T) {
	for _, c := range []struct {
		random float64
		want   []time.Duration
	}{
		{0.5, []time.Duration{time.Second, 2 * time.Second, 3500 * time.Millisecond, 3750 * time.Millisecond, 3750 * time.Millisecond}},
		{0, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2500 * time.Millisecond, 2500 * time.Millisecond}},
		{0.999999, []time.Duration{1499999 * time.Microsecond, 2999998 * time.Microsecond, 4999997 * time.Microsecond, 4999997500 * time.Nanosecond, 4999997500 * time.Nanosecond}},
	} {
		b := RetryPolicy{Initial: time.Second, Max: 5 * time.Second}.backOff()
		b.random = func() float64 { return c.random }
		var got []time.Duration
		for range c.want {
			got = append(got, b.NextBackOff())
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("random %v: waits %v, want %v", c.random, got, c.want)
		}
	}
}

// A Retry the agent stopped is a canceled update, whatever its last
// attempt said and whatever cause the agent gave: errors.Is sees
// context.Canceled, and Outcome says CANCELED.
func TestRetryStoppedByTheAgentIsCanceled(t *testing.T) {
	for name, last := range map[string]error{
		"plain":   errFlaky,
		"classed": classed{"ZTS_ERROR_503"},
		"refused": &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
	} {
		t.Run(name, func(t *testing.T) {
			cause := errors.New("received signal: interrupt")
			ctx, cancel := context.WithCancelCause(context.Background())
			err := Retry(ctx, RetryPolicy{Initial: time.Hour}, func(context.Context) error {
				cancel(cause) // the agent's signal comes during the attempt
				return last
			}, nil)
			if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRetriesStopped) || !errors.Is(err, cause) || !errors.Is(err, last) {
				t.Errorf("Retry = %v; want it to wrap context.Canceled, ErrRetriesStopped, the cause and the last error", err)
			}
			if got := Outcome(err); got != "CANCELED" {
				t.Errorf("Outcome(%v) = %q, want CANCELED", err, got)
			}
			if want := "retries stopped: " + last.Error() + " (received signal: interrupt)"; err.Error() != want {
				t.Errorf("Retry = %q, want %q", err, want)
			}
		})
	}
}

// A Retry whose context's deadline passed, whatever its cause says, is a
// timeout.
func TestRetryPastItsDeadlineIsATimeout(t *testing.T) {
	ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now(), errors.New("init took too long"))
	defer cancel()
	err := Retry(ctx, RetryPolicy{Initial: time.Hour}, func(context.Context) error { return errFlaky }, nil)
	if !errors.Is(err, context.DeadlineExceeded) || Outcome(err) != "TIMEOUT" {
		t.Errorf("Retry past a deadline = %v, Outcome %q; want it to wrap context.DeadlineExceeded, TIMEOUT", err, Outcome(err))
	}
}

// Max is the longest single wait: no draw exceeds it, not even with the
// jitter on top of an interval already at Max. The waits at the cap still
// spread, so that many agents do not retry in step.
func TestRetryPolicyMaxBoundsEveryWait(t *testing.T) {
	for _, p := range []RetryPolicy{
		{Initial: time.Second, Max: 4 * time.Second},
		{Initial: time.Second, Max: 4 * time.Second, Jitter: 0.9, Multiplier: 3},
		{Initial: 10 * time.Second, Max: 4 * time.Second}, // Initial above Max
		{},
	} {
		longest := orDefault(p.Max, time.Minute)
		b := p.backOff()
		lowest, highest := longest, time.Duration(0)
		for i := range 20000 {
			if i%20 == 0 {
				b.Reset()
			}
			wait := b.NextBackOff()
			if wait > longest || wait <= 0 {
				t.Fatalf("%+v: draw %d waits %v, want more than 0 and at most Max %v", p, i, wait, longest)
			}
			if i%20 >= 10 { // at the cap by then
				lowest, highest = min(lowest, wait), max(highest, wait)
			}
		}
		if highest-lowest < longest/10 {
			t.Errorf("%+v: waits at the cap range over [%v, %v]: no jitter left", p, lowest, highest)
		}
	}
}
