package token

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/sia-agent/sia-agent/sdk"
)

// store is the token cache with its ways of filling it: fetches from ZTS
// coalesced per key, the refresh loop (refresh.go), token files and status
// records.
type store struct {
	cfg   *Config
	log   hclog.Logger
	cache *cache
	zts   fetcher
	files *tokenFiles // nil: no files
	host  sdk.Host    // nil: status records are dropped

	flight singleflight.Group
	// inflight counts the goroutines that wait for a coalesced fetch;
	// close waits for them.
	inflight sync.WaitGroup
	// ctx bounds every fetch. It outlives the requests that start fetches,
	// so that a fetch a timed-out request gave up on still fills the cache,
	// and ends at close.
	ctx    context.Context
	cancel context.CancelFunc
}

func newStore(cfg *Config, log hclog.Logger, c *cache, zts fetcher, files *tokenFiles, host sdk.Host) *store {
	ctx, cancel := context.WithCancel(context.Background())
	return &store{cfg: cfg, log: log, cache: c, zts: zts, files: files, host: host, ctx: ctx, cancel: cancel}
}

// close cancels the fetches under way and waits until they have returned.
func (s *store) close() {
	s.cancel()
	s.inflight.Wait()
}

// fetchResult is the outcome of one coalesced fetch.
type fetchResult struct {
	tok     *Token
	err     error // the fetch failed: tok is nil
	fileErr error // the token was fetched but its file could not be written
}

// get returns a token for k that may be served now: from the cache, or
// fetched from ZTS (waiting no longer than ctx allows).
func (s *store) get(ctx context.Context, k Key) (*Token, error) {
	if t := s.cache.get(k, time.Now(), s.cfg.Cache.ExpiryMargin.Std()); t != nil {
		return t, nil
	}
	r := s.wait(ctx, s.start(k))
	return r.tok, r.err
}

// start fetches k from ZTS unless a fetch of k is already under way, in
// which case its result is shared: concurrent misses of one key make one
// ZTS call.
func (s *store) start(k Key) <-chan fetchResult {
	ch := make(chan fetchResult, 1)
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		v, _, _ := s.flight.Do(k.credential(), func() (any, error) { return s.fetchOnce(k), nil })
		ch <- v.(fetchResult)
	}()
	return ch
}

// wait waits for a fetch started by start, or until ctx is done; the fetch
// goes on without the caller then.
func (s *store) wait(ctx context.Context, ch <-chan fetchResult) fetchResult {
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return fetchResult{err: fmt.Errorf("waiting for ZTS: %w", context.Cause(ctx))}
	}
}

// fetchOnce makes one ZTS call for k and records its outcome: the token in
// the cache (creating the entry if needed), its file, a status record.
// Failures of keys not in the cache are only logged: a client asking for
// nonsense must not fill the agent's status report.
func (s *store) fetchOnce(k Key) fetchResult {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ZTSTimeout.Std())
	defer cancel()
	e := s.cache.lookup(k)
	reason := sdk.ReasonNew
	if e != nil && e.tok.Load() != nil {
		reason = sdk.ReasonExpires
	}
	cred := k.credential()

	started := time.Now()
	tok, err := s.zts.fetch(ctx, k)
	rpc := time.Since(started)
	if err != nil {
		s.log.Warn("Failed to fetch token", "credential", cred, "reason", reason, "error", err)
		if e != nil {
			e.mu.Lock()
			e.failures++
			e.mu.Unlock()
			s.report(e, reason, started, rpc, err)
		}
		return fetchResult{err: err}
	}

	next := schedule(tok, s.cfg.Refresh.MinRemaining.Std(), rand.Float64())
	fill := func(e *entry) {
		e.tok.Store(tok)
		e.mu.Lock()
		e.lastUpdate, e.refreshAt, e.failures = tok.Fetched, next, 0
		e.mu.Unlock()
	}
	if e == nil {
		// Filled before it is visible: the refresh loop, woken by the new
		// entry, must not take it for one that was never fetched.
		var evicted *entry
		e, evicted = s.cache.add(k, false, started, fill)
		if evicted != nil {
			s.log.Info("Evicted the least recently used token: the cache is full", "credential", evicted.key.credential(), "max_entries", s.cfg.Cache.MaxEntries)
		}
	}
	fill(e) // again, if another fetch added the entry meanwhile

	var fileErr error
	if e.target && s.files != nil {
		if fileErr = s.files.write(k, tok); fileErr != nil {
			s.log.Error("Failed to write token file", "credential", cred, "error", fileErr)
		}
	}
	s.report(e, reason, started, rpc, fileErr)
	s.log.Info("Fetched token", "credential", cred, "reason", reason,
		"expires", tok.Expiry.UTC().Format(time.RFC3339), "refresh_in", time.Until(next).Round(time.Second).String())
	return fetchResult{tok: tok, fileErr: fileErr}
}

// report hands the agent the status record of one fetch of e.
func (s *store) report(e *entry, reason sdk.Reason, started time.Time, rpc time.Duration, err error) {
	if s.host == nil {
		return
	}
	rec := sdk.StatusRecord{
		Credential:  e.key.credential(),
		Kind:        e.key.Kind.String(),
		Reason:      reason,
		Outcome:     sdk.Outcome(err),
		Err:         err,
		Started:     started,
		Duration:    time.Since(started),
		RPCDuration: rpc,
	}
	if t := e.tok.Load(); t != nil {
		rec.Expiry = t.Expiry
	}
	e.mu.Lock()
	rec.LastUpdate, rec.NextUpdate = e.lastUpdate, e.refreshAt
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.host.ReportStatus(ctx, rec); err != nil {
		s.log.Warn("Failed to report token status to the agent", "credential", rec.Credential, "error", err)
	}
}

// prefetch makes one attempt at every target, so that the server has
// tokens from its first request when ZTS is up, and is not held back when
// it is down: the refresh loop retries what failed.
func (s *store) prefetch(ctx context.Context, keys []Key) {
	var g errgroup.Group
	g.SetLimit(s.cfg.Refresh.Concurrency)
	for _, k := range keys {
		g.Go(func() error {
			s.wait(ctx, s.start(k))
			return nil
		})
	}
	_ = g.Wait()
}

// fetchAll fetches every target with retries and writes its file, failing
// if any could not be had: init mode, where nothing runs afterwards to
// make up for a miss.
func (s *store) fetchAll(ctx context.Context, keys []Key) error {
	var (
		g    errgroup.Group
		mu   sync.Mutex
		errs []error
	)
	g.SetLimit(s.cfg.Refresh.Concurrency)
	for _, k := range keys {
		g.Go(func() error {
			err := sdk.Retry(ctx, s.cfg.Refresh.Retry.policy(), func(ctx context.Context) error {
				r := s.wait(ctx, s.start(k))
				return errors.Join(r.err, r.fileErr)
			}, func(err error, wait time.Duration) {
				s.log.Info("Retrying token fetch", "credential", k.credential(), "retry_in", wait.Round(time.Millisecond).String())
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", k.credential(), err))
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}
