package token

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"github.com/sia-agent/sia-agent/sdk"
)

// cache is the token cache, and the one thing the token server, the
// refresh loop and Init ask for tokens. It owns its entries: it answers a
// request from them, fetches what it does not have from ZTS (concurrent
// misses of one key make one call; misses are rate-limited; ZTS's recent
// refusals are answered from memory), records each fetch's outcome in the
// entry, its file and its status record (fill, fail), says which tokens
// are due for refresh and when (due, next), and evicts what nobody asks
// for (idle, least recently used).
type cache struct {
	cfg     *Config
	log     hclog.Logger
	zts     fetcher
	policy  refreshPolicy
	files   *tokenFiles // nil: no files
	host    sdk.Host    // nil: status records are dropped
	entries *entries

	margin  time.Duration // cache.expiry_margin
	timeout time.Duration // server.request_timeout: how long a request waits for ZTS

	// flights are the fetches under way, by key.
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

	// changed is signalled (without blocking) when an entry is added or an
	// attempt ends, so that the refresh loop reschedules.
	changed chan struct{}

	// statusMu serialises, per credential, the status records of an entry
	// with its removal, so that an evicted token's record cannot be
	// reported again after the agent was told to drop it.
	statusSeed maphash.Seed
	statusMu   [16]sync.Mutex
}

// newCache returns an empty cache that fetches from zts, writes the
// targets' files (files may be nil) and reports to host (which may be
// nil), refreshing by the configured policy.
func newCache(cfg *Config, log hclog.Logger, zts fetcher, files *tokenFiles, host sdk.Host) *cache {
	ctx, cancel := context.WithCancel(context.Background())
	return &cache{
		cfg: cfg, log: log, zts: zts, files: files, host: host,
		policy:     newBackoffPolicy(cfg.Refresh, cfg.Cache.ExpiryMargin.Std()),
		entries:    newEntries(cfg.Cache.MaxEntries),
		margin:     cfg.Cache.ExpiryMargin.Std(),
		timeout:    cfg.Server.RequestTimeout.Std(),
		flights:    make(map[Key]*flight),
		ctx:        ctx,
		cancel:     cancel,
		refusals:   newRefusals(cfg.Cache.NegativeTTL.Std(), cfg.Cache.MaxEntries),
		misses:     rate.NewLimiter(rate.Limit(cfg.Cache.MissRate), cfg.Cache.MissBurst),
		failLog:    newLogDedup(logRepeatInterval, logDedupKeys),
		changed:    make(chan struct{}, 1),
		statusSeed: maphash.MakeSeed(),
	}
}

// addTarget makes k a target: kept fresh, never evicted, written to a
// file. Targets are added before anything asks the cache.
func (c *cache) addTarget(k Key) {
	c.entries.addTarget(k)
	c.wake()
}

// removeTarget makes k a target no more: its entry leaves the cache, and
// its status record the agent's report.
func (c *cache) removeTarget(k Key) {
	if e := c.entries.removeTarget(k); e != nil {
		c.forget([]*entry{e})
		c.wake()
	}
}

// close cancels the fetches under way and waits until they have returned.
func (c *cache) close() {
	c.cancel()
	c.inflight.Wait()
}

// maxRequestKeys is how many tokens one request asks for at most: header
// mode's access and role token.
const maxRequestKeys = 2

// get returns a token that may be served now for each of keys, at most
// maxRequestKeys: from memory, or fetched from ZTS on demand, waiting for
// ZTS no longer than the request timeout (or ctx) allows. When one cannot
// be had it returns the error of the first of keys that failed, and that
// key: a client always gets the same answer.
func (c *cache) get(ctx context.Context, keys ...Key) (toks [maxRequestKeys]*Token, failed Key, err error) {
	now := time.Now()
	hits := 0
	for i, k := range keys {
		if toks[i] = c.hit(k, now); toks[i] != nil {
			hits++
		}
	}
	if hits == len(keys) {
		return toks, Key{}, nil
	}
	return c.miss(ctx, keys, toks)
}

// token is get for one key.
func (c *cache) token(ctx context.Context, k Key) (*Token, error) {
	toks, _, err := c.get(ctx, k)
	return toks[0], err
}

// hit returns k's token if it may be served at now, and notes the use.
func (c *cache) hit(k Key, now time.Time) *Token {
	e := c.entries.use(k, now)
	if e == nil {
		return nil
	}
	if t := e.tok.Load(); t.usable(now, c.margin) {
		return t
	}
	return nil
}

// miss fetches the tokens of keys that toks lacks, all at once, and waits
// for them. Every token has at least the expiry margin left when it
// returns: one may have aged while another was fetched.
func (c *cache) miss(ctx context.Context, keys []Key, toks [maxRequestKeys]*Token) ([maxRequestKeys]*Token, Key, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var flights [maxRequestKeys]*flight
	var errs [maxRequestKeys]error
	for i, k := range keys {
		if toks[i] == nil {
			flights[i], errs[i] = c.demand(k)
		}
	}
	for i, k := range keys {
		if flights[i] != nil {
			r := c.wait(ctx, flights[i])
			toks[i], errs[i] = r.tok, r.err
		}
		if errs[i] != nil {
			return toks, k, errs[i]
		}
	}
	now := time.Now()
	for i, k := range keys {
		if err := checkServable(k, toks[i], now, c.margin); err != nil {
			return toks, k, err
		}
	}
	return toks, Key{}, nil
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

// fetch fetches k from ZTS, or joins the fetch of k under way, and waits
// for it as long as ctx allows: Init and the refresh loop.
func (c *cache) fetch(ctx context.Context, k Key) fetchResult {
	c.fmu.Lock()
	f := c.flights[k]
	if f == nil {
		f = c.launchLocked(k)
	}
	c.fmu.Unlock()
	return c.wait(ctx, f)
}

// demand is fetch for a client's cache miss, without the wait. A key ZTS
// refused lately is answered with that refusal, and a miss that would
// make a new ZTS call must fit in the on-demand rate (cache.miss_rate):
// clients cannot turn their requests into ZTS load.
//
// The cache and the refusals are looked at again once no fetch of k is
// under way: a fetch that ended since the caller missed the cache has
// filled one or the other before it ended.
func (c *cache) demand(k Key) (*flight, error) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if f := c.flights[k]; f != nil {
		return f, nil
	}
	now := time.Now()
	if t := c.hit(k, now); t != nil {
		f := &flight{done: make(chan struct{}), res: fetchResult{tok: t}}
		close(f.done)
		return f, nil
	}
	if err := c.refusals.get(k, now); err != nil {
		return nil, err
	}
	if !c.misses.Allow() {
		return nil, &tooManyMissesError{rate: c.cfg.Cache.MissRate, burst: c.cfg.Cache.MissBurst}
	}
	return c.launchLocked(k), nil
}

// launchLocked starts the fetch of k; c.fmu is held.
func (c *cache) launchLocked(k Key) *flight {
	f := &flight{done: make(chan struct{})}
	c.flights[k] = f
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		f.res = c.fetchOnce(k)
		c.fmu.Lock()
		delete(c.flights, k)
		c.fmu.Unlock()
		close(f.done)
	}()
	return f
}

// wait waits for a fetch, or until ctx is done; the fetch goes on without
// the caller then.
func (c *cache) wait(ctx context.Context, f *flight) fetchResult {
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

// fetchOnce makes one ZTS call for k and records its outcome: fill or
// fail.
func (c *cache) fetchOnce(k Key) fetchResult {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ZTSTimeout.Std())
	defer cancel()
	e := c.entries.peek(k)
	reason := sdk.ReasonNew
	if e != nil && e.tok.Load() != nil {
		reason = sdk.ReasonExpires
	}
	started := time.Now()
	tok, err := c.zts.fetch(ctx, k)
	rpc := time.Since(started)
	if err == nil {
		// A token that arrives with less than the margin left is no better
		// than none: caching it would only make every request miss.
		err = checkServable(k, tok, time.Now(), c.margin)
	}
	if err != nil {
		c.fail(k, e, call{reason, started, rpc}, err)
		return fetchResult{err: err}
	}
	return c.fill(k, tok, call{reason, started, rpc})
}

// call is what a status record says of one fetch.
type call struct {
	reason  sdk.Reason
	started time.Time
	rpc     time.Duration
}

// fill records a token ZTS issued for k: in k's entry (created if needed:
// an on-demand token, evicting the least recently used one if the cache
// is full), its file for a target, its status record and its refresh.
func (c *cache) fill(k Key, tok *Token, fc call) fetchResult {
	c.refusals.forget(k)
	next := c.policy.schedule(tok)
	// Filled before it is visible: the refresh loop, woken by the new
	// entry, must not take it for one that was never fetched.
	e, created, evicted := c.entries.add(k, fc.started, func(e *entry) { e.fill(tok, next) })
	if evicted != nil {
		c.log.Info("Evicted the least recently used token: the cache is full", "credential", evicted.key.credential(), "max_entries", c.cfg.Cache.MaxEntries)
		c.forget([]*entry{evicted})
	}
	if created {
		c.wake()
	} else {
		e.fill(tok, next)
	}

	var fileErr error
	cred := k.credential()
	if e.target && c.files != nil {
		if fileErr = c.files.write(k, tok); fileErr != nil {
			c.log.Error("Failed to write token file", "credential", cred, "error", fileErr)
		}
	}
	c.report(e, fc, fileErr)
	c.log.Info("Fetched token", "credential", cred, "reason", fc.reason,
		"expires", tok.Expiry.UTC().Format(time.RFC3339), "refresh_in", time.Until(next).Round(time.Second).String())
	c.warnShortLived(cred, tok, next)
	return fetchResult{tok: tok, fileErr: fileErr}
}

// warnShortLived says (once per interval) when the refresh floor leaves a
// token unusable before its next refresh: ZTS issues it for less than
// refresh.min_interval. Requests for it are then fetched on demand.
func (c *cache) warnShortLived(cred string, tok *Token, next time.Time) {
	if !next.After(tok.Expiry.Add(-c.margin)) {
		return
	}
	if ok, _ := c.failLog.allow("short-lived\x00"+cred, time.Now()); ok {
		c.log.Warn("ZTS issued a token that expires before its next refresh (refresh.min_interval)", "credential", cred,
			"lifetime", tok.Expiry.Sub(tok.Fetched).Round(time.Second).String(), "min_interval", c.cfg.Refresh.MinInterval.Std().String())
	}
}

// fail records a failed fetch of k: a refusal for clients to be answered
// from, a log line (once per interval for the same failure), and for a
// cached key (e) its status record. Failures of keys not in the cache
// are only logged: a client asking for nonsense must not fill the
// agent's status report.
func (c *cache) fail(k Key, e *entry, fc call, err error) {
	c.refusals.put(k, err, time.Now())
	cred := k.credential()
	if log, repeated := c.failLog.allow(cred+"\x00"+err.Error(), time.Now()); log {
		args := []any{"credential", cred, "reason", fc.reason, "error", err}
		if repeated > 0 {
			args = append(args, "repeated", repeated, "over", logRepeatInterval.String())
		}
		c.log.Warn("Failed to fetch token", args...)
	}
	if e != nil {
		c.report(e, fc, err)
	}
}

// wake makes the refresh loop look at the cache again.
func (c *cache) wake() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// cacheStats is the cache's size per token kind.
type cacheStats struct {
	Entries map[kind]int
	Bytes   map[kind]int
}

func (c *cache) stats() cacheStats {
	s := cacheStats{Entries: map[kind]int{accessToken: 0, roleToken: 0}, Bytes: map[kind]int{accessToken: 0, roleToken: 0}}
	for _, e := range c.entries.all() {
		s.Entries[e.key.Kind]++
		s.Bytes[e.key.Kind] += e.size()
	}
	return s
}

// tokens calls fn with every cached token.
func (c *cache) tokens(fn func(Key, *Token)) {
	for _, e := range c.entries.all() {
		if t := e.tok.Load(); t != nil {
			fn(e.key, t)
		}
	}
}
