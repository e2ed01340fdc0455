package sdktest

import (
	"context"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// Circuits is a test double of sdk.Circuits: it lets every call go,
// unless Hold was called, and records what providers report. NewRuntime
// gives every Runtime one; a test that wants the real backoff sets
// Runtime.Circuits to sdk.NewCircuitSet().
type Circuits struct {
	mu      sync.Mutex
	hold    *sdk.CircuitOpenError
	waits   map[string]int
	results map[string][]sdk.CallResult
}

// NewCircuits returns circuits that let every call go.
func NewCircuits() *Circuits {
	return &Circuits{waits: make(map[string]int), results: make(map[string][]sdk.CallResult)}
}

// Hold makes every Wait fail with a *sdk.CircuitOpenError of status and
// retryIn; Release undoes it.
func (c *Circuits) Hold(status int, retryIn time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = &sdk.CircuitOpenError{RetryIn: retryIn, Status: status, Reason: "held by the test"}
}

// Release lets calls go again.
func (c *Circuits) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = nil
}

// Wait implements sdk.Circuits.
func (c *Circuits) Wait(_ context.Context, endpoint string, _ sdk.CircuitPolicy) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits[endpoint]++
	if c.hold != nil {
		e := *c.hold
		e.Endpoint = endpoint
		return &e
	}
	return nil
}

// Report implements sdk.Circuits.
func (c *Circuits) Report(_ context.Context, endpoint string, _ sdk.CircuitPolicy, r sdk.CallResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results[endpoint] = append(c.results[endpoint], r)
}

// Waits is how many times calls to endpoint asked to go.
func (c *Circuits) Waits(endpoint string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waits[endpoint]
}

// Results returns what was reported of the calls to endpoint, in order.
func (c *Circuits) Results(endpoint string) []sdk.CallResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sdk.CallResult(nil), c.results[endpoint]...)
}
