package sdk_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// The guide's (README.md) examples that are not whole files: each one is
// in this file as the guide shows it, and TestGuideCompiles checks that it
// stays so.

type Target struct {
	Domain string   `yaml:"domain"`
	Roles  []string `yaml:"roles"`
}

func (t Target) Validate() error {
	var check conf.Checker
	if t.Domain == "" {
		check.Errorf("domain", "required: the Athenz domain of the token")
	}
	for i, r := range t.Roles {
		if r == "" {
			check.ErrorfAt(conf.P("roles", i), "empty role")
		}
	}
	return check.Err()
}

// A type of a config checks itself, and each problem is reported at its
// key below the value: here the second target's.
func ExampleConfig_Decode_target() {
	cfg, _ := sdk.ParseConfig("pipeline.yaml", "targets:\n  - domain: sports\n  - roles: [readers, '']\n")
	var c struct {
		Targets []Target `yaml:"targets"`
	}
	fmt.Println(cfg.Decode(&c))
	// Output:
	// pipeline.yaml:3: targets[1].domain: required: the Athenz domain of the token
	// pipeline.yaml:3: targets[1].roles[1]: empty role
}

type greeter struct {
	requests *prometheus.CounterVec
}

func (p *greeter) register(rt *sdk.Runtime) error {
	p.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hello_requests_total",
		Help: "Greetings served, by HTTP status code.",
	}, []string{"code"})
	if err := rt.Metrics.Register(p.requests); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	return nil
}

// A provider registers its collectors with rt.Metrics in Init; the agent
// serves them with a provider label.
func ExampleRuntime_metrics() {
	rt := &sdk.Runtime{Name: "hello", Metrics: prometheus.NewRegistry()}
	p := &greeter{}
	fmt.Println(p.register(rt))
	fmt.Println(p.register(rt) != nil) // registered twice
	// Output:
	// <nil>
	// true
}
