package sdk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is an exponential backoff with jitter. The interval starts
// at Initial and grows by Multiplier up to Max; each wait is drawn at
// random from the interval ± Jitter of it, and is never longer than Max.
type RetryPolicy struct {
	Initial    time.Duration // first interval; default 1s
	Max        time.Duration // longest single wait; default 60s
	Multiplier float64       // growth per attempt; default 2
	Jitter     float64       // randomisation factor in [0,1); default 0.5
	MaxElapsed time.Duration // give up after this long; 0 means 1 minute
	MaxTries   uint          // give up after this many attempts; 0 means no limit
}

func (p RetryPolicy) backOff() *backOff {
	b := &backOff{
		initial:    orDefault(p.Initial, time.Second),
		max:        orDefault(p.Max, 60*time.Second),
		multiplier: 2,
		jitter:     0.5,
		random:     rand.Float64,
	}
	if p.Multiplier > 1 {
		b.multiplier = p.Multiplier
	}
	if p.Jitter > 0 && p.Jitter < 1 {
		b.jitter = p.Jitter
	}
	return b
}

// backOff is a RetryPolicy's schedule, for backoff.Retry. Unlike
// backoff.ExponentialBackOff, which caps the interval and then randomises
// it, up to Max × (1 + Jitter), it cuts the random range at max: at the
// cap, the waits spread over [max × (1 - jitter), max].
type backOff struct {
	initial, max       time.Duration
	multiplier, jitter float64
	random             func() float64 // in [0, 1)

	interval time.Duration // the next wait's interval; 0 before the first
}

func (b *backOff) Reset() { b.interval = 0 }

func (b *backOff) NextBackOff() time.Duration {
	if b.interval == 0 {
		b.interval = min(b.initial, b.max)
	}
	lo := float64(b.interval) * (1 - b.jitter)
	hi := min(float64(b.interval)*(1+b.jitter), float64(b.max))
	wait := time.Duration(lo + b.random()*(hi-lo))
	if float64(b.interval) >= float64(b.max)/b.multiplier {
		b.interval = b.max
	} else {
		b.interval = time.Duration(float64(b.interval) * b.multiplier)
	}
	return max(wait, 1)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ErrRetriesStopped wraps the last error of a Retry that its context
// stopped.
var ErrRetriesStopped = errors.New("retries stopped")

// stoppedError is the error of a Retry that its context stopped. It wraps
// ErrRetriesStopped, the last attempt's error, the context's cause (the
// agent's, such as "received signal: interrupt") and the context's own
// error, so that errors.Is sees context.Canceled or
// context.DeadlineExceeded whatever the cause.
type stoppedError struct {
	last, cause, ctxErr error
}

func (e *stoppedError) Error() string {
	return fmt.Sprintf("%v: %v (%v)", ErrRetriesStopped, e.last, e.cause)
}

func (e *stoppedError) Unwrap() []error {
	return []error{ErrRetriesStopped, e.last, e.cause, e.ctxErr}
}

// Outcome is CANCELED, or TIMEOUT past a deadline: the update was stopped,
// whatever class its last attempt had.
func (e *stoppedError) Outcome() string {
	if errors.Is(e.ctxErr, context.DeadlineExceeded) {
		return "TIMEOUT"
	}
	return "CANCELED"
}

// Retry calls op until it succeeds, returns an error wrapped by Permanent,
// or the policy gives up, waiting with exponential backoff and jitter in
// between. Before each wait, onRetry (if not nil) hears the error and the
// wait. Retries stop the moment ctx is cancelled: Retry then returns an
// error that wraps ErrRetriesStopped, op's last error, ctx's cause and
// ctx.Err(), so that errors.Is(err, context.Canceled) holds and Outcome
// says CANCELED (TIMEOUT once ctx's deadline passed), whatever the cause
// and whatever class the last error has.
func Retry(ctx context.Context, p RetryPolicy, op func(ctx context.Context) error, onRetry func(err error, wait time.Duration)) error {
	var last error
	opts := []backoff.RetryOption{
		backoff.WithBackOff(p.backOff()),
		backoff.WithMaxElapsedTime(orDefault(p.MaxElapsed, time.Minute)),
	}
	if p.MaxTries > 0 {
		opts = append(opts, backoff.WithMaxTries(p.MaxTries))
	}
	if onRetry != nil {
		opts = append(opts, backoff.WithNotify(onRetry))
	}
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = op(ctx)
		return struct{}{}, last
	}, opts...)
	if err != nil && last != nil && ctx.Err() != nil && err == context.Cause(ctx) { //nolint:errorlint // identity: backoff returned the cause itself
		// The context stopped the retries: keep the error that matters.
		return &stoppedError{last: last, cause: err, ctxErr: ctx.Err()}
	}
	return err
}

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return backoff.Permanent(err) }
