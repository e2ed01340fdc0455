package ztsclient

import (
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// CircuitConfig is the `circuit:` block of the providers that call ZTS:
// how the agent's one circuit for the endpoint backs off while ZTS fails.
// The circuit takes the block of the first provider that calls the
// endpoint, so the cert and token providers should agree.
type CircuitConfig struct {
	// Failures in a row open the circuit.
	Failures int `yaml:"failures"`
	// Initial is the first interval between probes; each failed probe
	// makes it 4 times longer, up to Max. A probe goes at a random point
	// of it; once it is Max, in its last third.
	Initial sdk.Duration `yaml:"initial"`
	Max     sdk.Duration `yaml:"max"`
}

// DefaultCircuit is the block's default: 2 failures, probes from 10s to 60s.
func DefaultCircuit() CircuitConfig {
	d := sdk.DefaultCircuitPolicy()
	return CircuitConfig{Failures: d.Failures, Initial: sdk.Duration(d.Initial), Max: sdk.Duration(d.Max)}
}

// Policy is the circuit policy the block says.
func (c CircuitConfig) Policy() sdk.CircuitPolicy {
	p := sdk.DefaultCircuitPolicy()
	p.Failures, p.Initial, p.Max = c.Failures, c.Initial.Std(), c.Max.Std()
	return p
}

// Validate checks the block.
func (c CircuitConfig) Validate() error {
	var check conf.Checker
	if c.Failures < 1 {
		check.Errorf("failures", "must be at least 1")
	}
	if c.Initial < sdk.Duration(10*time.Millisecond) {
		check.Errorf("initial", "must be at least 10ms")
	}
	if c.Max < c.Initial {
		check.Errorf("max", "%v is shorter than circuit.initial (%v)", c.Max.Std(), c.Initial.Std())
	}
	return check.Err()
}
