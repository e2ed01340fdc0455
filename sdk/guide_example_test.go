package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

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

// callUpstream is a call to an upstream endpoint through the agent's
// circuit for it, as the guide shows.
func callUpstream(ctx context.Context, rt *sdk.Runtime, client *http.Client, req *http.Request, endpoint string, policy sdk.CircuitPolicy) error {
	if err := rt.Circuits.Wait(ctx, endpoint, policy); err != nil {
		return err // held: a *sdk.CircuitOpenError says what failed and when the next try comes
	}
	resp, err := client.Do(req)
	rt.Circuits.Report(ctx, endpoint, policy, sdk.CallResultOf(ctx, resp, err))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Calls to an endpoint that fails are held by its circuit: after two
// failures in a row, one goes per interval, and a call that cannot wait
// for it fails at once.
func ExampleCircuits() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	rt := &sdk.Runtime{Circuits: sdk.NewCircuitSet()}
	for i := range 3 {
		wait := 10 * time.Second
		if i == 2 {
			wait = 0 // cannot wait at all
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		err := callUpstream(ctx, rt, srv.Client(), req, srv.URL, sdk.CircuitPolicy{})
		var open *sdk.CircuitOpenError
		fmt.Println(errors.As(err, &open))
		cancel()
	}
	fmt.Println(calls.Load(), "calls reached the endpoint")
	// Output:
	// false
	// false
	// true
	// 2 calls reached the endpoint
}
