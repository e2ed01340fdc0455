package sdk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// CircuitPolicy is how a circuit backs off an endpoint that fails. After
// Failures failures in a row the circuit opens: calls are held, and one
// probe goes out per interval. The intervals grow from Initial by
// Multiplier up to Max; each wait is drawn at random from zero to the
// grown interval (full jitter), and once that reaches Max from its last
// third, so that agents that failed together do not probe together, a
// long outage is probed about every 5/6 of Max, and a probe comes at most
// Max after the endpoint is back.
// Once a probe succeeds the calls held go at once, each delayed by a
// random part of Spread.
type CircuitPolicy struct {
	Failures   int           // failures in a row that open the circuit; default 2
	Initial    time.Duration // the first interval; default 10s
	Multiplier float64       // growth per failed probe; default 4
	Max        time.Duration // the longest wait between two probes; default 60s
	Spread     time.Duration // the held calls' spread after a probe succeeds; default 1s
}

// DefaultCircuitPolicy is the policy a zero CircuitPolicy means.
func DefaultCircuitPolicy() CircuitPolicy {
	return CircuitPolicy{Failures: 2, Initial: 10 * time.Second, Multiplier: 4, Max: time.Minute, Spread: time.Second}
}

// withDefaults fills in what p leaves zero.
func (p CircuitPolicy) withDefaults() CircuitPolicy {
	d := DefaultCircuitPolicy()
	if p.Failures <= 0 {
		p.Failures = d.Failures
	}
	p.Initial = orDefault(p.Initial, d.Initial)
	if p.Multiplier <= 1 {
		p.Multiplier = d.Multiplier
	}
	p.Max = orDefault(p.Max, d.Max)
	if p.Spread < 0 {
		p.Spread = 0
	} else if p.Spread == 0 {
		p.Spread = d.Spread
	}
	return p
}

// CallOutcome is what a call through a circuit came to.
type CallOutcome int

// Call outcomes.
const (
	// CallSucceeded: the endpoint answered, whatever it answered, other
	// than a failure of its own (any 2xx, 3xx or 4xx but 429).
	CallSucceeded CallOutcome = iota
	// CallFailed: no answer, a timeout, a 5xx or a 429.
	CallFailed
	// CallAbandoned: the caller gave up before an answer; says nothing of
	// the endpoint.
	CallAbandoned
)

// CallResult is the outcome of one call, reported to its endpoint's
// circuit.
type CallResult struct {
	Outcome CallOutcome
	// Status is the HTTP status of the answer; 0 without one.
	Status int
	// Reason says in a few words what failed, for the calls the circuit
	// then holds; never a secret.
	Reason string
	// RetryAfter is the endpoint's Retry-After; 0 without one. The next
	// probe does not come sooner.
	RetryAfter time.Duration
}

// CircuitState is a circuit's state.
type CircuitState string

// Circuit states.
const (
	CircuitClosed  CircuitState = "closed"  // calls go
	CircuitOpen    CircuitState = "open"    // calls are held until the next probe
	CircuitProbing CircuitState = "probing" // one call is out; the others wait for it
)

// CircuitOpenError is the error of a call the circuit held: the endpoint
// has been failing, and the next probe comes after RetryIn, later than the
// caller could wait.
type CircuitOpenError struct {
	Endpoint string
	RetryIn  time.Duration
	// Status and Reason are of the failure that opened the circuit or of
	// the last probe: what a client is told.
	Status int
	Reason string
}

func (e *CircuitOpenError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "it failed"
	}
	return fmt.Sprintf("%s is failing (%s): calls held, next attempt in %v", e.Endpoint, reason, e.RetryIn.Round(time.Millisecond))
}

// Outcome classifies the error for status records: the class of the
// failure that opened the circuit, e.g. ZTS_503 for a ZTS that answered
// 503; CIRCUIT_OPEN without one.
func (e *CircuitOpenError) Outcome() string {
	if e.Status != 0 {
		return fmt.Sprintf("ZTS_%d", e.Status)
	}
	return "CIRCUIT_OPEN"
}

// ErrProbeLost is what a circuit records when its probe reports nothing
// for a minute: the caller died or forgot to report.
var ErrProbeLost = errors.New("the probe never reported")

// probeTimeout is how long a probe may stay out before it counts as failed.
const probeTimeout = time.Minute

// maxRetryAfter bounds the Retry-After a circuit honours.
const maxRetryAfter = time.Hour

// Circuit is one endpoint's circuit. It is safe for concurrent use.
type Circuit struct {
	endpoint string
	policy   CircuitPolicy
	rnd      func() float64

	mu        sync.Mutex
	state     CircuitState
	failures  int           // in a row
	probes    int           // failed probes since it opened
	nextProbe time.Time     // open: when the next probe may go
	probeEnd  time.Time     // probing: when the probe counts as lost
	settled   chan struct{} // probing: closed when the probe reports
	last      CallResult    // the failure that opened it, or the last probe's
	held      uint64        // calls held or refused since the start
	opened    uint64        // times it opened since the start
	probed    uint64        // probes let go since the start
}

// NewCircuit returns the closed circuit of endpoint.
func NewCircuit(endpoint string, p CircuitPolicy) *Circuit {
	return &Circuit{endpoint: endpoint, policy: p.withDefaults(), rnd: rand.Float64, state: CircuitClosed}
}

// Wait returns once a call to the endpoint may go: at once while the
// circuit is closed; while it is open, at the next probe (one caller goes
// as the probe, the others wait for its outcome). A caller whose context
// would end before the next probe is not kept waiting: it gets a
// *CircuitOpenError at once. Every call Wait lets go must be reported.
func (c *Circuit) Wait(ctx context.Context) error {
	counted := false
	for {
		wait, settled, err := c.admit(ctx, !counted)
		counted = true
		if err != nil || (wait == 0 && settled == nil) {
			return err
		}
		if err := c.pause(ctx, wait, settled); err != nil {
			return err
		}
	}
}

// admit decides a caller's fate now: go (zero wait, nil settled), wait
// for wait or until settled is closed, or be refused. count says whether
// a hold counts in the metrics.
func (c *Circuit) admit(ctx context.Context, count bool) (time.Duration, <-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.state == CircuitProbing && !now.Before(c.probeEnd) {
		c.failLocked(CallResult{Outcome: CallFailed, Reason: ErrProbeLost.Error()}, now)
	}
	switch c.state {
	case CircuitClosed:
		return 0, nil, nil
	case CircuitOpen:
		if !now.Before(c.nextProbe) {
			c.state, c.probeEnd, c.settled = CircuitProbing, now.Add(probeTimeout), make(chan struct{})
			c.probed++
			return 0, nil, nil
		}
	}
	if count {
		c.held++
	}
	until := c.nextProbe
	if c.state == CircuitProbing {
		until = now // the probe's outcome may come any moment
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
		return 0, nil, c.openErrorLocked(now)
	}
	if c.state == CircuitProbing {
		return time.Until(c.probeEnd), c.settled, nil
	}
	return c.nextProbe.Sub(now), nil, nil
}

// pause waits for d, or until settled is closed and then for a random
// part of the spread when the probe succeeded.
func (c *Circuit) pause(ctx context.Context, d time.Duration, settled <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return c.stopped(ctx)
	case <-t.C:
		return nil
	case <-settled:
	}
	c.mu.Lock()
	closed := c.state == CircuitClosed
	c.mu.Unlock()
	if !closed {
		return nil // admit again: open, or probing anew
	}
	t.Reset(time.Duration(c.rnd() * float64(c.policy.Spread)))
	select {
	case <-ctx.Done():
		return c.stopped(ctx)
	case <-t.C:
		return nil
	}
}

// stopped is the error of a wait ctx ended.
func (c *Circuit) stopped(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("%w (%w)", c.openErrorLocked(time.Now()), context.Cause(ctx))
}

func (c *Circuit) openErrorLocked(now time.Time) *CircuitOpenError {
	retryIn := c.nextProbe.Sub(now)
	if c.state == CircuitProbing {
		retryIn = 0
	}
	return &CircuitOpenError{Endpoint: c.endpoint, RetryIn: max(retryIn, 0), Status: c.last.Status, Reason: c.last.Reason}
}

// Report records the outcome of a call Wait let go.
func (c *Circuit) Report(r CallResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	switch r.Outcome {
	case CallSucceeded:
		c.failures, c.probes = 0, 0
		c.last = CallResult{}
		c.setStateLocked(CircuitClosed)
	case CallFailed:
		c.failLocked(r, now)
	case CallAbandoned:
		if c.state == CircuitProbing { // the next caller probes
			c.nextProbe = now
			c.setStateLocked(CircuitOpen)
		}
	}
}

// failLocked records a failure at now.
func (c *Circuit) failLocked(r CallResult, now time.Time) {
	c.failures++
	switch c.state {
	case CircuitClosed:
		if c.failures < c.policy.Failures {
			return
		}
		c.opened++
	case CircuitOpen:
		// A call let go before the circuit opened: only its Retry-After
		// may push the next probe back.
		if r.RetryAfter > 0 {
			c.nextProbe = later(c.nextProbe, now.Add(min(r.RetryAfter, maxRetryAfter)))
		}
		return
	case CircuitProbing:
		c.probes++
	}
	c.last = r
	c.nextProbe = now.Add(c.interval(r.RetryAfter))
	c.setStateLocked(CircuitOpen)
}

// interval is the wait before the next probe, after c.probes failed ones:
// drawn from zero to the grown interval (full jitter) while it is shorter
// than Max, and from the last third below Max once it has grown past: a
// long outage is probed about every 5/6 of Max rather than every half,
// and agents that failed together do not fall into step at Max.
func (c *Circuit) interval(retryAfter time.Duration) time.Duration {
	p := c.policy
	grown := float64(p.Initial)
	for i := 0; i < c.probes && grown < float64(p.Max); i++ {
		grown *= p.Multiplier
	}
	lo, hi := 0.0, min(grown, float64(p.Max))
	if grown >= float64(p.Max) {
		lo = hi * 2 / 3
	}
	d := time.Duration(lo + c.rnd()*(hi-lo))
	if retryAfter > 0 {
		retryAfter = min(retryAfter, maxRetryAfter)
		d = max(d, retryAfter+time.Duration(c.rnd()*float64(retryAfter)/4))
	}
	return max(d, time.Millisecond)
}

func (c *Circuit) setStateLocked(s CircuitState) {
	if c.state == CircuitProbing && s != CircuitProbing {
		close(c.settled)
		c.settled = nil
	}
	c.state = s
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// CircuitSnapshot is what a circuit's metrics show.
type CircuitSnapshot struct {
	Endpoint string
	State    CircuitState
	// NextProbe is how long until the next probe may go; 0 unless open.
	NextProbe time.Duration
	Failures  int    // failures in a row
	Held      uint64 // calls held or refused since the start
	Opened    uint64 // times it opened since the start
	Probes    uint64 // probes let go since the start
}

// Snapshot returns the circuit's state now.
func (c *Circuit) Snapshot() CircuitSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := CircuitSnapshot{Endpoint: c.endpoint, State: c.state, Failures: c.failures, Held: c.held, Opened: c.opened, Probes: c.probed}
	if c.state == CircuitOpen {
		s.NextProbe = max(time.Until(c.nextProbe), 0)
	}
	return s
}
