package token

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// SimulatedZTS answers one token request of a simulation: the token's
// expiry, or the HTTP status of a failure (and its Retry-After).
type SimulatedZTS func(ctx context.Context, accessToken bool, domain, roles string) (expiry time.Time, status int, retryAfter time.Duration)

// Simulated is the provider's cache and refresh loop, the code that
// decides when ZTS is called, without the token server, the files and the
// HTTP client: its calls go to a model of ZTS, through circuits as the
// HTTP client's do. The fleet simulation under bench/ runs thousands of
// them on virtual time (testing/synctest).
type Simulated struct {
	cache   *cache
	targets []Key
	stop    chan struct{}
	done    chan struct{}
}

// NewSimulated returns the provider's cache for targets (domain → roles)
// under cfg (DefaultConfig, changed as the simulation needs), calling zts
// through circuits once identity says the agent has one.
func NewSimulated(cfg Config, targets map[string]string, zts SimulatedZTS, circuits sdk.Circuits, identity func() bool) *Simulated {
	for domain, roles := range targets {
		cfg.Targets = append(cfg.Targets, Target{Domain: domain, Roles: []string{roles}})
	}
	f := &simFetcher{zts: zts, circuits: circuits, endpoint: "zts", policy: cfg.Circuit.Policy(), identity: identity}
	s := &Simulated{
		cache:   newCache(&cfg, hclog.NewNullLogger(), f, nil, nil),
		targets: cfg.targetKeys(),
	}
	for _, k := range s.targets {
		s.cache.addTarget(k)
	}
	return s
}

// Start makes Init's first attempt and starts the refresh loop, as the
// provider's Init and Start do in refresh mode.
func (s *Simulated) Start(ctx context.Context) {
	first, cancel := context.WithTimeout(ctx, s.cache.cfg.Refresh.FirstAttemptTimeout.Std())
	s.cache.prefetch(first, s.targets)
	cancel()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		newRefresher(s.cache, hclog.NewNullLogger()).loop(ctx, s.stop)
	}()
}

// Stop stops the refresh loop and the fetches under way.
func (s *Simulated) Stop() {
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.cache.close()
}

// Serve is what a client asking for every target at now would get from
// the cache, without a fetch: whether each has a token to serve, and
// whether any token served had expired.
func (s *Simulated) Serve(now time.Time) (all, expired bool) {
	all = true
	for _, k := range s.targets {
		t := s.cache.hit(k, now)
		if t == nil {
			all = false
			continue
		}
		if !now.Before(t.Expiry) {
			expired = true
		}
	}
	return all, expired
}

// simFetcher is the fetcher of a Simulated: the circuit around a model of
// ZTS, as ztsclient's gate does around the HTTP call.
type simFetcher struct {
	zts      SimulatedZTS
	circuits sdk.Circuits
	endpoint string
	policy   sdk.CircuitPolicy
	identity func() bool
}

func (f *simFetcher) hasIdentity() bool { return f.identity() }

func (f *simFetcher) fetch(ctx context.Context, k Key) (*Token, error) {
	op := opRoleToken
	if k.Kind == accessToken {
		op = opAccessToken
	}
	if !f.identity() { // as the client does: no call without an identity
		return nil, &tlsfiles.NoIdentityError{Err: errors.New("simulated: no identity yet")}
	}
	if err := f.circuits.Wait(ctx, f.endpoint, f.policy); err != nil {
		return nil, &ztsclient.Error{Op: op, Err: err}
	}
	fetched := time.Now()
	expiry, status, retryAfter := f.zts(ctx, k.Kind == accessToken, k.Domain, k.Roles)
	f.circuits.Report(ctx, f.endpoint, f.policy, ztsclient.SimulatedCallResult(ctx, status, retryAfter))
	switch {
	case ctx.Err() != nil:
		return nil, &ztsclient.Error{Op: op, Err: context.Cause(ctx)}
	case status != 0 && status != 200:
		return nil, &ztsclient.Error{Op: op, Status: status, Err: errors.New("simulated failure")}
	}
	return newToken(k.Kind, "simulated", "", expiry, fetched), nil
}
