package cert

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// SimulatedZTS answers one certificate request of a simulation: the
// certificate's expiry, or the HTTP status of a failure (and its
// Retry-After).
type SimulatedZTS func(ctx context.Context, identity bool, name string) (expiry time.Time, status int, retryAfter time.Duration)

// Simulated is the provider's refresh schedule, loop and retries (its
// schedule, sdk.RefreshLoop and sdk.Retry, with the settings Init takes),
// for an identity and role certificates issued by a model of ZTS through
// circuits, without keys, files or HTTP: the fleet simulation under
// bench/ runs thousands of them on virtual time (testing/synctest).
type Simulated struct {
	p     *Provider
	zts   SimulatedZTS
	circ  sdk.Circuits
	group chan struct{}
	stop  chan struct{}
	// Init's attempt, which may outlive Start's wait for it.
	cancelFirst context.CancelFunc
	firstDone   <-chan struct{}
	// mu guards the credentials' certificates, which the loop changes and
	// Fresh and HasIdentity read.
	mu sync.Mutex
}

// NewSimulated returns the provider's schedule for an identity and the
// named role certificates under cfg's refresh and circuit blocks (start
// from a zero Config: the defaults fill it), calling zts through
// circuits.
func NewSimulated(cfg Config, roles []string, zts SimulatedZTS, circuits sdk.Circuits) *Simulated {
	d := defaultConfig()
	if cfg.Refresh == (RefreshConfig{}) {
		cfg.Refresh = d.Refresh
	}
	if cfg.Circuit == (ztsclient.CircuitConfig{}) {
		cfg.Circuit = d.Circuit
	}
	p := &Provider{s: &settings{Config: cfg}, log: hclog.NewNullLogger()}
	p.sched = schedule{interval: cfg.Refresh.Interval.Std(), minInterval: cfg.Refresh.MinInterval.Std(), jitter: cfg.Refresh.Jitter}
	p.creds = []*credential{{name: identityName}}
	for _, r := range roles {
		p.creds = append(p.creds, &credential{name: "rolecert/" + r, role: &roleTarget{}})
	}
	return &Simulated{p: p, zts: zts, circ: circuits}
}

// Start makes Init's one attempt and starts the refresh loop, as the
// provider does in refresh mode: the attempt runs in a goroutine of its
// own, waited for at most refresh.first_attempt_timeout, and the loop
// begins once it ended.
func (s *Simulated) Start(ctx context.Context) {
	first, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.cancelFirst, s.firstDone = cancel, done
	go func() {
		defer close(done)
		_ = s.round(first, sdk.RetryPolicy{MaxTries: 1})
	}()
	timer := time.NewTimer(s.p.s.Refresh.FirstAttemptTimeout.Std())
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	s.stop, s.group = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.group)
		select {
		case <-done:
		case <-s.stop:
			return
		}
		sdk.RefreshLoop(ctx, s.stop, s.p.nextWaitQuiet, func(ctx context.Context) {
			maxElapsed := s.p.s.Refresh.RetryMaxElapsed.Std()
			if maxElapsed == 0 {
				maxElapsed = max(s.p.lastWait/4, s.p.s.Refresh.RetryInitial.Std())
			}
			_ = s.round(ctx, s.p.retryPolicy(maxElapsed))
		}, nil)
	}()
}

// Stop stops the refresh loop and Init's attempt, if still under way.
func (s *Simulated) Stop() {
	if s.stop != nil {
		close(s.stop)
		s.cancelFirst()
		<-s.firstDone
		<-s.group
	}
}

// Fresh reports whether every certificate is valid at now for at least
// margin more.
func (s *Simulated) Fresh(now time.Time, margin time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.p.creds {
		if c.leaf == nil || !now.Add(margin).Before(c.leaf.NotAfter) {
			return false
		}
	}
	return true
}

// HasIdentity reports whether the identity certificate is valid at now.
func (s *Simulated) HasIdentity(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.p.creds[0].leaf
	return id != nil && now.Before(id.NotAfter)
}

func (p *Provider) nextWaitQuiet() time.Duration {
	p.lastWait = p.sched.wait(p.creds, time.Now())
	return p.lastWait
}

var errNoIdentity = errors.New("no usable identity certificate")

// round is the provider's round for the model: the due credentials,
// identity first, retried by policy.
func (s *Simulated) round(ctx context.Context, policy sdk.RetryPolicy) error {
	pending := map[*credential]bool{}
	for _, c := range s.p.creds {
		if c.leaf == nil || s.p.sched.isDue(c, time.Now()) {
			pending[c] = true
		}
	}
	if len(pending) == 0 {
		return nil
	}
	err := sdk.Retry(ctx, policy, func(ctx context.Context) error {
		var errs []error
		for _, c := range s.p.creds {
			if !pending[c] {
				continue
			}
			if c.role != nil && !s.HasIdentity(time.Now()) {
				errs = append(errs, errNoIdentity)
				continue
			}
			if err := s.update(ctx, c); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(pending, c)
		}
		return errors.Join(errs...)
	}, nil)
	s.mu.Lock()
	for c := range pending {
		s.p.setDue(c, time.Now())
	}
	s.mu.Unlock()
	return err
}

// update asks the model for c's certificate through the circuit.
func (s *Simulated) update(ctx context.Context, c *credential) error {
	policy := s.p.s.Circuit.Policy()
	if err := s.circ.Wait(ctx, "zts", policy); err != nil {
		return err
	}
	expiry, status, retryAfter := s.zts(ctx, c.role == nil, c.name)
	s.circ.Report(ctx, "zts", policy, ztsclient.SimulatedCallResult(ctx, status, retryAfter))
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if status != 0 && status != 200 {
		return fmt.Errorf("simulated ZTS: %d", status)
	}
	now := time.Now()
	s.mu.Lock()
	s.p.setLeaf(c, &x509.Certificate{NotBefore: now, NotAfter: expiry}, now)
	s.mu.Unlock()
	return nil
}
