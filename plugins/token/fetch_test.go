package token

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

func TestConcurrentMissesMakeOneZTSCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			<-release
			return fakeToken(k, n, time.Hour), nil
		})
		st, _ := testCache(t, f, nil)
		k := Key{Kind: roleToken, Domain: "sports", Roles: "readers"}

		const n = 50
		var wg sync.WaitGroup
		got := make([]*Token, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { got[i], errs[i] = st.token(context.Background(), k) })
		}
		synctest.Wait() // every caller is waiting for the fetch
		if c := f.count(k); c != 1 {
			t.Errorf("%d ZTS calls for %d concurrent misses, want 1", c, n)
		}
		close(release)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i] != got[0] {
				t.Fatalf("caller %d: %v, %p (want the shared %p)", i, errs[i], got[i], got[0])
			}
		}
		// Now a hit: no call.
		if _, err := st.token(context.Background(), k); err != nil || f.count(k) != 1 {
			t.Errorf("hit: %v, %d calls", err, f.count(k))
		}
	})
}

func TestFetchOutlivesTheRequestThatGaveUp(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		<-release
		return fakeToken(k, n, time.Hour), nil
	})
	st, _ := testCache(t, f, nil)
	k := Key{Kind: accessToken, Domain: "d", Roles: "r"}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := st.token(ctx, k); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request that timed out got %v", err)
	}
	close(release)
	waitFor(t, 5*time.Second, "the abandoned fetch to fill the cache", func() bool {
		return cachedToken(st, k) != nil
	})
	if _, err := st.token(context.Background(), k); err != nil || f.count(k) != 1 {
		t.Errorf("after the fetch: %v, %d calls, want a hit", err, f.count(k))
	}
}

func TestStaleButValidTokenServedWhileZTSFails(t *testing.T) {
	t.Parallel()
	// Virtual time: the timers fire in order, however loaded the machine.
	synctest.Test(t, func(t *testing.T) {
		life := time.Second
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			if n == 1 {
				return fakeToken(k, n, life), nil
			}
			return nil, ztsAnswer(503, "down")
		})
		st, host := testCache(t, f, func(c *Config) { c.Cache.ExpiryMargin = 0 })
		k := Key{Kind: roleToken, Domain: "d", Roles: "r"}
		st.addTarget(k)
		first := st.fetch(context.Background(), k)
		if first.err != nil {
			t.Fatal(first.err)
		}
		// A refresh fails; the token is still valid and still served.
		if r := st.fetch(context.Background(), k); r.err == nil {
			t.Fatal("the second fetch should fail")
		}
		if got, err := st.token(context.Background(), k); err != nil || got != first.tok {
			t.Fatalf("while ZTS fails: %v, %v; want the cached token", got, err)
		}
		rec, _ := statusOf(host, k.credential())
		if rec.Outcome != "ZTS_503" || rec.Reason != sdk.ReasonExpires || !rec.Expiry.Equal(first.tok.Expiry) || rec.LastUpdate.IsZero() {
			t.Errorf("status of the failed refresh: %+v", rec)
		}
		// Once it expires, it is never served: the request goes to ZTS and
		// fails.
		time.Sleep(time.Until(first.tok.Expiry) + time.Millisecond) // the token's own clock
		if got, err := st.token(context.Background(), k); err == nil {
			t.Fatalf("an expired token was served: %q", got.Raw)
		}
	})
}

func TestFailuresOfUnknownKeysLeaveNoTrace(t *testing.T) {
	t.Parallel()
	f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
		return nil, ztsAnswer(404, "No such domain")
	})
	st, host := testCache(t, f, nil)
	k := Key{Kind: roleToken, Domain: "nonsense"}
	if _, err := st.token(context.Background(), k); err == nil {
		t.Fatal("want an error")
	}
	if st.entries.peek(k) != nil || len(host.Records()) != 0 {
		t.Errorf("a failed on-demand fetch left an entry or %d status records", len(host.Records()))
	}
}

func TestFetchRejectsWhatMustNotBeCached(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, err := range map[string]error{
		"empty":   checkToken(opRoleToken, "", now.Add(time.Hour), now),
		"expired": checkToken(opRoleToken, "t", now.Add(-time.Second), now),
		"no exp":  checkToken(opAccessToken, "t", time.Time{}, now),
	} {
		var bad *ztsclient.Error
		if !errors.As(err, &bad) || !bad.Malformed {
			t.Errorf("%s: %v, want a bad response", name, err)
		}
	}
	if err := checkToken(opRoleToken, "t", now.Add(time.Second), now); err != nil {
		t.Errorf("valid token refused: %v", err)
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	// {"alg":"none"}.{"exp":1700000000,"sub":"x"}.sig
	jwt := "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDAsInN1YiI6IngifQ.c2ln"
	if exp, err := jwtExpiry(jwt); err != nil || exp.Unix() != 1_700_000_000 {
		t.Errorf("exp = %v, %v", exp, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a.bm90IGpzb24.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"} {
		if _, err := jwtExpiry(bad); err == nil {
			t.Errorf("%q: want no expiry", bad)
		}
	}
}
