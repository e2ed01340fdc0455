package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is an exponential backoff with jitter.
type RetryPolicy struct {
	Initial    time.Duration // first wait; default 1s
	Max        time.Duration // longest single wait; default 60s
	Multiplier float64       // growth per attempt; default 2
	Jitter     float64       // randomisation factor in [0,1); default 0.5
	MaxElapsed time.Duration // give up after this long; 0 means 1 minute
	MaxTries   uint          // give up after this many attempts; 0 means no limit
}

func (p RetryPolicy) backOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = orDefault(p.Initial, time.Second)
	b.MaxInterval = orDefault(p.Max, 60*time.Second)
	b.Multiplier = 2
	if p.Multiplier > 1 {
		b.Multiplier = p.Multiplier
	}
	b.RandomizationFactor = 0.5
	if p.Jitter > 0 && p.Jitter < 1 {
		b.RandomizationFactor = p.Jitter
	}
	return b
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
	if err != nil && last != nil && ctx.Err() != nil && err == context.Cause(ctx) {
		// The context stopped the retries: keep the error that matters.
		return &stoppedError{last: last, cause: err, ctxErr: ctx.Err()}
	}
	return err
}

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return backoff.Permanent(err) }
