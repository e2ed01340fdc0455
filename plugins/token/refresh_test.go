package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// syncBuffer is a log destination tests can read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(substr string) int { return strings.Count(s.String(), substr) }

// runLoop runs st's refresh loop under ctx until the test ends, logging to
// the returned buffer.
func runLoop(t *testing.T, ctx context.Context, st *cache) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	st.log = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		newRefresher(st, st.log).loop(ctx, stop)
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		if t.Failed() {
			t.Logf("refresh loop log:\n%s", logs)
		}
	})
	return logs
}

func fastRetry(c *Config) {
	c.Refresh.MinRemaining = 0
	c.Refresh.MinInterval = sdk.Duration(10 * time.Millisecond) // these tests' tokens live a second
	c.Refresh.Retry = RetryConfig{Initial: sdk.Duration(5 * time.Millisecond), Max: sdk.Duration(20 * time.Millisecond), MaxElapsed: sdk.Duration(60 * time.Millisecond)}
	c.Refresh.FailureInterval = sdk.Duration(20 * time.Millisecond)
	c.Cache.ExpiryMargin = sdk.Duration(20 * time.Millisecond)
}

func TestRefreshKeepsTokensFreshAheadOfExpiry(t *testing.T) {
	t.Parallel()
	// Virtual time: the timers fire in order, however loaded the machine.
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var prev *Token
		var late []string
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			mu.Lock()
			defer mu.Unlock()
			if prev != nil && time.Now().After(prev.Expiry) {
				late = append(late, fmt.Sprintf("fetch %d came %v after the previous token expired", n, time.Since(prev.Expiry)))
			}
			prev = fakeToken(k, n, time.Second) // refreshed after 500-667ms: slack for a loaded machine
			return prev, nil
		})
		st, host := testCache(t, f, fastRetry)
		k := Key{Kind: accessToken, Domain: "d", Roles: "r"}
		st.addTarget(k)
		runLoop(t, context.Background(), st)

		// Poll the cache as a client would: a token is always there.
		waitFor(t, 10*time.Second, "three refreshes", func() bool {
			if f.count(k) > 0 && cachedToken(st, k) == nil {
				t.Fatal("the cache had no valid token between refreshes")
			}
			return f.count(k) >= 4
		})
		mu.Lock()
		defer mu.Unlock()
		for _, l := range late {
			t.Error(l)
		}
		var reasons []sdk.Reason
		for _, r := range host.Records() {
			reasons = append(reasons, r.Reason)
		}
		if reasons[0] != sdk.ReasonNew || reasons[1] != sdk.ReasonExpires {
			t.Errorf("reasons %v, want NEW then EXPIRES", reasons)
		}
	})
}

func TestRefreshRetriesUntilZTSAnswers(t *testing.T) {
	t.Parallel()
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		if n <= 2 {
			return nil, ztsUnreachable(errors.New("connection refused"))
		}
		return fakeToken(k, n, time.Hour), nil
	})
	st, host := testCache(t, f, func(c *Config) {
		fastRetry(c)
		c.Refresh.Retry.MaxElapsed = sdk.Duration(time.Minute)
	})
	k := Key{Kind: roleToken, Domain: "d", Roles: "r"}
	st.addTarget(k)
	logs := runLoop(t, context.Background(), st)
	waitFor(t, 10*time.Second, "the token", func() bool { return cachedToken(st, k) != nil })
	if n := logs.count("Retrying token refresh"); n != 2 {
		t.Errorf("%d retries logged, want 2", n)
	}
	var outcomes []string
	for _, r := range host.Records() {
		outcomes = append(outcomes, r.Outcome)
	}
	if strings.Join(outcomes, " ") != "UNREACHABLE UNREACHABLE SUCCESS" {
		t.Errorf("status outcomes %v", outcomes)
	}
}

// Case 119's token side: retries that keep failing give up, and the token
// is tried again later; nothing else happens.
func TestRefreshGivesUpAndTriesAgain(t *testing.T) {
	t.Parallel()
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		return nil, ztsAnswer(404, "No such domain")
	})
	st, _ := testCache(t, f, fastRetry)
	k := Key{Kind: roleToken, Domain: "invalid", Roles: "invalid"}
	st.addTarget(k)
	logs := runLoop(t, context.Background(), st)
	waitFor(t, 10*time.Second, "two rounds of retries to give up", func() bool {
		return logs.count("Failed to refresh token after retries") >= 2
	})
	if st.entries.peek(k) == nil {
		t.Error("a target that failed was dropped")
	}
}

// Cases 120 and 121's token side: cancelling the run stops the retries at
// once, and the next wake-up refreshes nothing.
func TestRefreshStopsAndSkipsOnceTheRunIsCancelled(t *testing.T) {
	t.Parallel()
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		return nil, ztsAnswer(503, "down")
	})
	st, _ := testCache(t, f, func(c *Config) {
		fastRetry(c)
		c.Refresh.Retry.MaxElapsed = sdk.Duration(time.Hour) // only the cancellation stops them
	})
	k := Key{Kind: roleToken, Domain: "d", Roles: "r"}
	st.addTarget(k)
	ctx, cancel := context.WithCancelCause(context.Background())
	logs := runLoop(t, ctx, st)
	waitFor(t, 10*time.Second, "a retry", func() bool { return logs.count("Retrying token refresh") > 0 })
	cancel(errors.New("received signal: interrupt"))
	waitFor(t, 10*time.Second, "the skipped interval", func() bool { return logs.count("Skipped to refresh cached tokens") > 0 })
	calls := f.count(k)
	if !strings.Contains(logs.String(), "retries stopped") {
		t.Errorf("the retries did not report being stopped:\n%s", logs)
	}
	waitFor(t, 10*time.Second, "another skipped interval", func() bool { return logs.count("Skipped to refresh cached tokens") > 1 })
	if f.count(k) != calls {
		t.Errorf("%d ZTS calls after the run was cancelled", f.count(k)-calls)
	}
}

func TestIdleOnDemandTokensAreEvicted(t *testing.T) {
	t.Parallel()
	// Virtual time: the timers fire in order, however loaded the machine.
	synctest.Test(t, func(t *testing.T) {
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) { return fakeToken(k, n, time.Hour), nil })
		st, _ := testCache(t, f, func(c *Config) { c.Cache.IdleTimeout = sdk.Duration(time.Second) })
		target := Key{Kind: roleToken, Domain: "d", Roles: "target"}
		used := Key{Kind: roleToken, Domain: "d", Roles: "used"}
		idle := Key{Kind: roleToken, Domain: "d", Roles: "idle"}
		st.addTarget(target)
		for _, k := range []Key{target, used, idle} {
			if _, err := st.token(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
		runLoop(t, context.Background(), st)
		waitFor(t, 10*time.Second, "the idle token to be evicted", func() bool {
			cachedToken(st, used) // a client keeps asking for this one
			return st.entries.peek(idle) == nil
		})
		if st.entries.peek(target) == nil || st.entries.peek(used) == nil {
			t.Error("a target or a token in use was evicted")
		}
	})
}

func TestRefreshConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	// Virtual time: the held slots overlap however loaded the machine.
	synctest.Test(t, func(t *testing.T) {
		var cur, peak atomic.Int32
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			c := cur.Add(1)
			defer cur.Add(-1)
			for p := peak.Load(); c > p; p = peak.Load() {
				if peak.CompareAndSwap(p, c) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond) // hold the slot so that others pile up
			return fakeToken(k, n, time.Hour), nil
		})
		st, _ := testCache(t, f, func(c *Config) { c.Refresh.Concurrency = 2 })
		for i := range 8 {
			st.addTarget(Key{Kind: roleToken, Domain: "d", Roles: fmt.Sprintf("r%d", i)})
		}
		runLoop(t, context.Background(), st)
		waitFor(t, 10*time.Second, "every target", func() bool { return f.total() == 8 })
		if p := peak.Load(); p != 2 {
			t.Errorf("peak of %d refreshes at once, want 2", p)
		}
	})
}
