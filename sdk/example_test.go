package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// ticker is a small but complete provider: it validates its config, makes
// one update in Init, and refreshes in a goroutine that Start creates and
// Shutdown stops.
type ticker struct {
	rt       *sdk.Runtime
	interval time.Duration
	group    *sdk.Group
	updates  prometheus.Counter
}

type tickerConfig struct {
	Interval sdk.Duration `yaml:"interval"`
}

// Validate checks the config; Decode calls it and names the line of each
// problem.
func (c tickerConfig) Validate() error {
	var check conf.Checker
	if c.Interval <= 0 {
		check.Errorf("interval", "must be more than 0")
	}
	return check.Err()
}

func (p *ticker) load(cfg sdk.Config) (tickerConfig, error) {
	c := tickerConfig{Interval: sdk.Duration(time.Minute)} // the default
	err := cfg.Decode(&c)
	return c, err
}

func (p *ticker) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := p.load(cfg)
	return err
}

func (p *ticker) Init(ctx context.Context, rt *sdk.Runtime) error {
	c, err := p.load(rt.Config)
	if err != nil {
		return err
	}
	p.rt, p.interval, p.group = rt, c.Interval.Std(), sdk.NewGroup(rt)
	p.updates = prometheus.NewCounter(prometheus.CounterOpts{Name: "ticker_updates_total", Help: "Updates made."})
	if err := rt.Metrics.Register(p.updates); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	p.update(ctx, sdk.ReasonNew)
	return nil
}

func (p *ticker) Start(ctx context.Context) error {
	return p.group.GoContext(ctx, "ticker", func(gctx context.Context) {
		sdk.RefreshLoop(ctx, gctx.Done(), func() time.Duration { return p.interval },
			func(ctx context.Context) { p.update(ctx, sdk.ReasonExpires) }, nil)
	})
}

func (p *ticker) Shutdown(context.Context) error {
	if p.group != nil { // safe when Init never ran
		p.group.Stop()
	}
	return nil
}

func (p *ticker) update(ctx context.Context, reason sdk.Reason) {
	now := time.Now()
	p.updates.Inc()
	_ = p.rt.Host.ReportStatus(ctx, sdk.StatusRecord{
		Credential: "tick", Kind: "example", Reason: reason, Outcome: sdk.OutcomeSuccess,
		Started: now, LastUpdate: now, NextUpdate: now.Add(p.interval), Expiry: now.Add(2 * p.interval),
	})
}

// A provider goes through Validate, Init, Start and Shutdown; the agent
// does this across a process boundary, sdktest.New in a test. Here by
// hand, with the Runtime the agent would give it.
func Example() {
	bad, _ := sdk.ParseConfig("pipeline.yaml", "interval: soon\n")
	fmt.Println("validate:", (&ticker{}).Validate(context.Background(), bad))

	cfg, _ := sdk.ParseConfig("pipeline.yaml", "interval: 1h\n")
	host := sdktest.NewHost() // records status reports
	rt := &sdk.Runtime{
		Name:    "ticker",
		Mode:    sdk.ModeRefresh,
		Config:  cfg,
		Logger:  hclog.NewNullLogger(),
		Metrics: prometheus.NewRegistry(),
		Host:    host,
	}
	p := &ticker{}
	ctx := context.Background()
	fmt.Println("validate:", p.Validate(ctx, cfg))
	fmt.Println("init:", p.Init(ctx, rt))
	fmt.Println("start:", p.Start(ctx))
	fmt.Println("shutdown:", p.Shutdown(ctx))
	r := host.Records()[0]
	fmt.Println("reported:", r.Credential, r.Reason, r.Outcome)
	// Output:
	// validate: pipeline.yaml:1: interval: "soon" is not a duration (write e.g. 30s or 5m)
	// validate: <nil>
	// init: <nil>
	// start: <nil>
	// shutdown: <nil>
	// reported: tick NEW SUCCESS
}

// Decode is strict: a key that matches no field is a problem that names
// the file, the line and the key, with a suggestion.
func ExampleConfig_Decode() {
	cfg, _ := sdk.ParseConfig("pipeline.yaml", "address: 127.0.0.1:8090\ngreting: Hi\n")
	var c struct {
		Address  string `yaml:"address"`
		Greeting string `yaml:"greeting"`
	}
	fmt.Println(cfg.Decode(&c))
	// Output:
	// pipeline.yaml:2: greting: unknown key "greting" (did you mean "greeting"?)
}

// greeterConfig's types check themselves: Decode calls each Validate,
// wherever the value is, and puts its problems at the value's keys.
type greeterConfig struct {
	Server  serverConfig `yaml:"server"`
	Targets []string     `yaml:"targets"`
}

type serverConfig struct {
	Address string `yaml:"address"`
}

func (s serverConfig) Validate() error {
	var check conf.Checker
	if _, _, err := net.SplitHostPort(s.Address); err != nil {
		check.Errorf("address", "%q is not host:port", s.Address)
	}
	return check.Err()
}

func (g greeterConfig) Validate() error {
	var check conf.Checker
	for i, t := range g.Targets {
		if t == "" {
			check.ErrorfAt(conf.P("targets", i), "empty target")
		}
	}
	return check.Err()
}

// Decode validates what it decoded and reports every problem at once,
// each at the line of its key, however deep.
func ExampleConfig_Decode_validate() {
	cfg, _ := sdk.ParseConfig("pipeline.yaml", "server:\n  address: nowhere\ntargets: [a, '']\n")
	var c greeterConfig
	fmt.Println(cfg.Decode(&c))
	// Output:
	// pipeline.yaml:2: server.address: "nowhere" is not host:port
	// pipeline.yaml:3: targets[1]: empty target
}

// A Group owns a provider's goroutines: Start creates them with
// GoContext, Shutdown stops them all with Stop, which cancels their
// contexts and waits until each has returned.
func ExampleGroup() {
	g := &sdk.Group{}
	var stopped atomic.Int32
	for _, name := range []string{"server", "refresh timer"} {
		_ = g.GoContext(context.Background(), name, func(ctx context.Context) {
			<-ctx.Done() // a real goroutine selects on ctx.Done() beside its work
			stopped.Add(1)
		})
	}
	g.Stop()
	fmt.Println("stopped:", stopped.Load())
	// Output:
	// stopped: 2
}

// Retry retries with backoff and jitter, and tells why before each wait.
func ExampleRetry() {
	attempts := 0
	err := sdk.Retry(context.Background(), sdk.RetryPolicy{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		func(context.Context) error {
			if attempts++; attempts < 3 {
				return fmt.Errorf("attempt %d: ZTS unreachable", attempts)
			}
			return nil
		},
		func(err error, _ time.Duration) { fmt.Println("retrying after", err) })
	fmt.Println("err:", err, "attempts:", attempts)
	// Output:
	// retrying after attempt 1: ZTS unreachable
	// retrying after attempt 2: ZTS unreachable
	// err: <nil> attempts: 3
}

// Retries stop the moment their context is cancelled, as the agent's run
// context is on a signal; the error keeps the last attempt's.
func ExampleRetry_stopped() {
	ctx, cancel := context.WithCancelCause(context.Background())
	err := sdk.Retry(ctx, sdk.RetryPolicy{Initial: time.Hour},
		func(context.Context) error {
			cancel(errors.New("received signal: interrupt"))
			return errors.New("ZTS unreachable")
		}, nil)
	fmt.Println(errors.Is(err, sdk.ErrRetriesStopped))
	fmt.Println(err)
	// Output:
	// true
	// retries stopped: ZTS unreachable (received signal: interrupt)
}

// RefreshLoop refreshes each time the interval next returns elapses,
// until stop is closed; ask next again after each refresh to schedule by
// expiry.
func ExampleRefreshLoop() {
	stop := make(chan struct{})
	refreshes := 0
	next := func() time.Duration {
		if refreshes == 3 {
			return time.Hour // stop is closed; this tick never comes
		}
		return time.Millisecond
	}
	sdk.RefreshLoop(context.Background(), stop, next, func(context.Context) {
		if refreshes++; refreshes == 3 {
			close(stop)
		}
	}, nil)
	fmt.Println("refreshes:", refreshes)
	// Output:
	// refreshes: 3
}

// Once the run context is cancelled, a tick refreshes nothing: onSkip is
// called and the loop waits for stop, which Shutdown closes.
func ExampleRefreshLoop_skipped() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stop := make(chan struct{})
	sdk.RefreshLoop(ctx, stop, func() time.Duration { return time.Millisecond },
		func(context.Context) { fmt.Println("refreshed") },
		func() {
			fmt.Println("skipped")
			close(stop)
		})
	// Output:
	// skipped
}

// Start returns once its server answers, so that Shutdown can drain it.
// WaitForServerReady takes no context: it succeeds or gives up after
// ReadyTimeout.
func ExampleWaitForServerReady() {
	srv := httptest.NewServer(http.NotFoundHandler()) // any answer will do
	defer srv.Close()
	fmt.Println(sdk.WaitForServerReady(srv.URL, nil))
	// Output:
	// <nil>
}

// Outcome classifies an update's error for its status record.
func ExampleOutcome() {
	fmt.Println(sdk.Outcome(nil))
	fmt.Println(sdk.Outcome(fmt.Errorf("fetching: %w", context.DeadlineExceeded)))
	fmt.Println(sdk.Outcome(&os.PathError{Op: "open", Path: "/var/run/athenz/key.pem", Err: os.ErrPermission}))
	// Output:
	// SUCCESS
	// TIMEOUT
	// FILE_ERROR
}

// WriteFileAtomic replaces a file so that readers see the old content or
// the new, never a torn file; the mode is set before any byte is written.
func ExampleWriteFileAtomic() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token")
	if err := sdk.WriteFileAtomic(path, []byte("secret"), 0o600); err != nil {
		fmt.Println(err)
	}
	info, _ := os.Stat(path)
	fmt.Println(info.Mode())
	// Output:
	// -rw-------
}

// A fault point does nothing unless SIA_FAULTS names it; tests use them to
// put a failure, a signal or a crash exactly where a case needs it, e.g.
// SIA_FAULTS="hello:issue=fail:ZTS says no".
func ExampleRuntime_Fault() {
	rules, _ := fault.Parse("hello:issue=fail:ZTS says no")
	rt := &sdk.Runtime{Name: "hello", Faults: fault.NewPoints("hello", rules, nil)}
	fmt.Println(rt.Fault(context.Background(), "issue"))
	fmt.Println(rt.Fault(context.Background(), "another point"))
	// Output:
	// ZTS says no
	// <nil>
}
