package token

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

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

	// flights are the fetches under way, by key: concurrent misses of one
	// key make one ZTS call.
	fmu     sync.Mutex
	flights map[Key]*flight
	// inflight counts the fetches and status removals under way; close
	// waits for them.
	inflight sync.WaitGroup
	// ctx bounds every fetch. It outlives the requests that start fetches,
	// so that a fetch a timed-out request gave up on still fills the cache,
	// and ends at close.
	ctx    context.Context
	cancel context.CancelFunc

	refusals *refusals     // ZTS's recent refusals, answered to clients
	misses   *rate.Limiter // on-demand fetches clients may cause
	failLog  *logDedup     // "Failed to fetch token", once per interval and key

	// slots bounds the refresh loop's ZTS calls in flight; attempts
	// counts its attempt goroutines (refresh.go).
	slots    chan struct{}
	attempts sync.WaitGroup

	// statusMu serialises, per credential, the status records of an entry
	// with its removal, so that an evicted token's record cannot be
	// reported again after the agent was told to drop it.
	statusSeed maphash.Seed
	statusMu   [16]sync.Mutex
}

func newStore(cfg *Config, log hclog.Logger, c *cache, zts fetcher, files *tokenFiles, host sdk.Host) *store {
	ctx, cancel := context.WithCancel(context.Background())
	return &store{
		cfg: cfg, log: log, cache: c, zts: zts, files: files, host: host,
		flights:    make(map[Key]*flight),
		ctx:        ctx,
		cancel:     cancel,
		refusals:   newRefusals(cfg.Cache.NegativeTTL.Std(), cfg.Cache.MaxEntries),
		misses:     rate.NewLimiter(rate.Limit(cfg.Cache.MissRate), cfg.Cache.MissBurst),
		failLog:    newLogDedup(logRepeatInterval, logDedupKeys),
		slots:      make(chan struct{}, max(cfg.Refresh.Concurrency, 1)),
		statusSeed: maphash.MakeSeed(),
	}
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

// flight is one fetch under way; its result is set before done is closed.
type flight struct {
	done chan struct{}
	res  fetchResult
}

// get returns a token for k that may be served now, as a client's request
// would have it: from the cache, or fetched from ZTS on demand (waiting no
// longer than ctx allows).
func (s *store) get(ctx context.Context, k Key) (*Token, error) {
	margin := s.cfg.Cache.ExpiryMargin.Std()
	if t := s.cache.get(k, time.Now(), margin); t != nil {
		return t, nil
	}
	f, err := s.demand(k)
	if err != nil {
		return nil, err
	}
	r := s.wait(ctx, f)
	if r.err != nil {
		return nil, r.err
	}
	return r.tok, checkServable(k, r.tok, time.Now(), margin)
}

// start fetches k from ZTS unless a fetch of k is already under way, in
// which case its result is shared. The refresh loop, Init and the
// requests that got past demand start fetches here.
func (s *store) start(k Key) *flight {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if f := s.flights[k]; f != nil {
		return f
	}
	return s.launchLocked(k)
}

// demand is start for a client's cache miss. A key ZTS refused lately is
// answered with that refusal, and a miss that would make a new ZTS call
// must fit in the on-demand rate (cache.miss_rate): clients cannot turn
// their requests into ZTS load.
//
// The cache and the refusals are looked at again once no fetch of k is
// under way: a fetch that ended since the caller missed the cache has
// filled one or the other before it ended.
func (s *store) demand(k Key) (*flight, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if f := s.flights[k]; f != nil {
		return f, nil
	}
	now := time.Now()
	if t := s.cache.get(k, now, s.cfg.Cache.ExpiryMargin.Std()); t != nil {
		f := &flight{done: make(chan struct{}), res: fetchResult{tok: t}}
		close(f.done)
		return f, nil
	}
	if err := s.refusals.get(k, now); err != nil {
		return nil, err
	}
	if !s.misses.Allow() {
		return nil, &tooManyMissesError{rate: s.cfg.Cache.MissRate, burst: s.cfg.Cache.MissBurst}
	}
	return s.launchLocked(k), nil
}

// launchLocked starts the fetch of k; s.fmu is held.
func (s *store) launchLocked(k Key) *flight {
	f := &flight{done: make(chan struct{})}
	s.flights[k] = f
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		f.res = s.fetchOnce(k)
		s.fmu.Lock()
		delete(s.flights, k)
		s.fmu.Unlock()
		close(f.done)
	}()
	return f
}

// wait waits for a fetch, or until ctx is done; the fetch goes on without
// the caller then.
func (s *store) wait(ctx context.Context, f *flight) fetchResult {
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
		return fetchResult{err: fmt.Errorf("waiting for ZTS: %w", context.Cause(ctx))}
	}
}

// checkServable refuses a token that expires within margin of now: a
// fetch that took long, or a client that waited for two, must not end in
// a 200 with a token about to expire.
func checkServable(k Key, t *Token, now time.Time, margin time.Duration) error {
	if t.usable(now, margin) {
		return nil
	}
	return &lateTokenError{op: k.Kind.String(), expiry: t.Expiry, margin: margin}
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

	started := time.Now()
	tok, err := s.zts.fetch(ctx, k)
	rpc := time.Since(started)
	if err == nil {
		// A token that arrives with less than the margin left is no better
		// than none: caching it would only make every request miss.
		err = checkServable(k, tok, time.Now(), s.cfg.Cache.ExpiryMargin.Std())
	}
	if err != nil {
		s.fetchFailed(k, e, reason, started, rpc, err)
		return fetchResult{err: err}
	}
	s.refusals.forget(k)

	next := schedule(tok, s.cfg.Refresh.MinRemaining.Std(), s.cfg.Refresh.MinInterval.Std(), rand.Float64())
	fill := func(e *entry) {
		e.tok.Store(tok)
		e.mu.Lock()
		e.lastUpdate, e.refreshAt, e.failures = tok.Fetched, next, 0
		e.retries, e.retrySince, e.lastErr = 0, time.Time{}, nil
		e.mu.Unlock()
	}
	if e == nil {
		// Filled before it is visible: the refresh loop, woken by the new
		// entry, must not take it for one that was never fetched.
		var evicted *entry
		e, evicted = s.cache.add(k, false, started, fill)
		if evicted != nil {
			s.log.Info("Evicted the least recently used token: the cache is full", "credential", evicted.key.credential(), "max_entries", s.cfg.Cache.MaxEntries)
			s.forget([]*entry{evicted})
		}
	}
	fill(e) // again, if another fetch added the entry meanwhile

	var fileErr error
	cred := k.credential()
	if e.target && s.files != nil {
		if fileErr = s.files.write(k, tok); fileErr != nil {
			s.log.Error("Failed to write token file", "credential", cred, "error", fileErr)
		}
	}
	s.report(e, reason, started, rpc, fileErr)
	s.log.Info("Fetched token", "credential", cred, "reason", reason,
		"expires", tok.Expiry.UTC().Format(time.RFC3339), "refresh_in", time.Until(next).Round(time.Second).String())
	s.warnShortLived(cred, tok, next)
	return fetchResult{tok: tok, fileErr: fileErr}
}

// warnShortLived says (once per interval) when the refresh floor leaves a
// token unusable before its next refresh: ZTS issues it for less than
// refresh.min_interval. Requests for it are then fetched on demand.
func (s *store) warnShortLived(cred string, tok *Token, next time.Time) {
	if !next.After(tok.Expiry.Add(-s.cfg.Cache.ExpiryMargin.Std())) {
		return
	}
	if ok, _ := s.failLog.allow("short-lived\x00"+cred, time.Now()); ok {
		s.log.Warn("ZTS issued a token that expires before its next refresh (refresh.min_interval)", "credential", cred,
			"lifetime", tok.Expiry.Sub(tok.Fetched).Round(time.Second).String(), "min_interval", s.cfg.Refresh.MinInterval.Std().String())
	}
}

// fetchFailed records a failed fetch of k: a refusal for clients to be
// answered from, a log line (once per interval for the same failure), and
// for a cached key its failure count and status record.
func (s *store) fetchFailed(k Key, e *entry, reason sdk.Reason, started time.Time, rpc time.Duration, err error) {
	s.refusals.put(k, err, time.Now())
	cred := k.credential()
	if log, repeated := s.failLog.allow(cred+"\x00"+err.Error(), time.Now()); log {
		args := []any{"credential", cred, "reason", reason, "error", err}
		if repeated > 0 {
			args = append(args, "repeated", repeated, "over", logRepeatInterval.String())
		}
		s.log.Warn("Failed to fetch token", args...)
	}
	if e == nil {
		return
	}
	e.mu.Lock()
	e.failures++
	e.mu.Unlock()
	s.report(e, reason, started, rpc, err)
}

// statusLock returns the lock that serialises the status calls of cred.
func (s *store) statusLock(cred string) *sync.Mutex {
	return &s.statusMu[maphash.String(s.statusSeed, cred)%uint64(len(s.statusMu))]
}

// report hands the agent the status record of one fetch of e, unless e
// has left the cache meanwhile. On-demand tokens are optional: only the
// configured targets can make the agent unready.
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
		Optional:    !e.target,
	}
	if t := e.tok.Load(); t != nil {
		rec.Expiry = t.Expiry
	}
	e.mu.Lock()
	rec.LastUpdate, rec.NextUpdate = e.lastUpdate, e.refreshAt
	e.mu.Unlock()

	mu := s.statusLock(rec.Credential)
	mu.Lock()
	defer mu.Unlock()
	if s.cache.lookup(e.key) != e {
		return // evicted: its record is gone, and must stay gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.host.ReportStatus(ctx, rec); err != nil {
		s.log.Warn("Failed to report token status to the agent", "credential", rec.Credential, "error", err)
	}
}

// forget tells the agent, in the background, to drop the status records
// of evicted entries: their records and series leave with them. A key
// cached again meanwhile keeps its record.
func (s *store) forget(evicted []*entry) {
	if s.host == nil || len(evicted) == 0 {
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		for _, e := range evicted {
			s.removeStatus(e)
		}
	}()
}

func (s *store) removeStatus(e *entry) {
	cred := e.key.credential()
	mu := s.statusLock(cred)
	mu.Lock()
	defer mu.Unlock()
	if s.cache.lookup(e.key) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.host.RemoveStatus(ctx, cred); err != nil {
		s.log.Warn("Failed to remove an evicted token's status from the agent", "credential", cred, "error", err)
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
