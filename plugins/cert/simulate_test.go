package cert

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// The simulation's Start mirrors Init in refresh mode: with a ZTS that
// does not answer, it returns after first_attempt_timeout with the call
// still under way, and the attempt completes once ZTS answers, without a
// second call for the same credential.
func TestSimulatedFirstAttemptGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls, cancelled atomic.Int32
		answer := make(chan struct{})
		zts := func(ctx context.Context, _ bool, _ string) (time.Time, int, time.Duration) {
			calls.Add(1)
			select {
			case <-answer:
				return time.Now().Add(24 * time.Hour), 200, 0
			case <-ctx.Done():
				cancelled.Add(1)
				return time.Time{}, 0, 0
			}
		}
		s := NewSimulated(Config{}, []string{"sia.demo:role.reader"}, zts, sdk.NewCircuitSet())
		s.Start(context.Background())
		defer s.Stop()
		synctest.Wait()
		if calls.Load() != 1 || cancelled.Load() != 0 {
			t.Fatalf("after Start: %d calls, %d cancelled; want the identity's call under way", calls.Load(), cancelled.Load())
		}
		if s.HasIdentity(time.Now()) {
			t.Fatal("an identity before ZTS answered")
		}

		close(answer)
		synctest.Wait()
		if !s.Fresh(time.Now(), time.Hour) {
			t.Error("not fresh once ZTS answered the first attempt")
		}
		if calls.Load() != 2 || cancelled.Load() != 0 {
			t.Errorf("%d calls, %d cancelled; want the identity's and the role certificate's, once each", calls.Load(), cancelled.Load())
		}
	})
}

// Stop cuts short a first attempt still under way.
func TestSimulatedStopCancelsTheFirstAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cancelled atomic.Int32
		zts := func(ctx context.Context, _ bool, _ string) (time.Time, int, time.Duration) {
			<-ctx.Done()
			cancelled.Add(1)
			return time.Time{}, 0, 0
		}
		s := NewSimulated(Config{}, nil, zts, sdk.NewCircuitSet())
		s.Start(context.Background())
		synctest.Wait()
		if cancelled.Load() != 0 {
			t.Error("the first attempt was cancelled by Start")
		}
		s.Stop()
		if cancelled.Load() != 1 {
			t.Errorf("%d calls cancelled by Stop, want 1", cancelled.Load())
		}
	})
}
