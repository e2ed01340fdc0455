// Package hello is an example sia-agent provider: a greeting server that
// holds a pretend credential, which expires and is refreshed ahead of its
// expiry. It shows every part of the provider contract with nothing but
// the SDK, the standard library and client_golang:
//
//   - Validate decodes the config strictly and reports every problem with
//     its file and line;
//   - Init gets the first credential, reports it to the agent and
//     registers the provider's metrics; in init mode that is all;
//   - Start binds the address (a port in use fails Start, cleanly),
//     creates the server and refresh goroutines in an sdk.Group and
//     returns once the server answers;
//   - Shutdown drains the server within a bound, stops every goroutine and
//     waits for them; it is safe without Init or Start.
package hello

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sia-agent/sia-agent/sdk"
)

// Provider is the hello provider. The zero value is ready for Validate.
type Provider struct {
	rt    *sdk.Runtime
	cfg   Config
	group *sdk.Group

	// Set in Init.
	requests  *prometheus.CounterVec // greetings served, by HTTP status
	refreshes *prometheus.CounterVec // credential updates, by outcome
	cred      atomic.Pointer[credential]
	serial    atomic.Int64

	// Set in Start.
	srv *http.Server
	ln  net.Listener
}

var _ sdk.Provider = (*Provider)(nil)

// credential is the pretend credential: a serial number and a validity.
type credential struct {
	serial          int64
	issued, expires time.Time
}

// The names of the provider's goroutines and credential, as logs, fault
// points and status records show them.
const (
	serverGoroutine  = "hello server"
	refreshGoroutine = "credential refresh timer"
	credentialName   = "greeting"
)

// Validate checks the configuration without side effects.
func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadConfig(cfg)
	return err
}

// Init registers the metrics and gets the first credential. In refresh
// mode a failure is logged and left to the refresh timer, as a ZTS outage
// would be: the agent starts, and /readyz says why it is not ready. In
// init mode, whose whole point is the credential, it fails Init.
func (p *Provider) Init(ctx context.Context, rt *sdk.Runtime) error {
	cfg, err := loadConfig(rt.Config)
	if err != nil {
		return err
	}
	p.rt, p.cfg, p.group = rt, cfg, sdk.NewGroup(rt)

	p.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hello_requests_total",
		Help: "Greetings served, by HTTP status code.",
	}, []string{"code"})
	p.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hello_credential_refreshes_total",
		Help: "Updates of the pretend credential, by outcome.",
	}, []string{"outcome"})
	for _, c := range []prometheus.Collector{p.requests, p.refreshes} {
		if err := rt.Metrics.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}

	if err := p.refresh(ctx, sdk.ReasonNew); err != nil {
		if rt.Mode == sdk.ModeInit {
			return fmt.Errorf("getting the first credential: %w", err)
		}
		rt.Logger.Warn("No credential yet; the refresh timer will try again", "error", err)
	}
	return nil
}

// Start serves greetings and refreshes the credential, each in a goroutine
// of the group, and returns once the server answers. ctx is the run
// context: cancelled, the refresh timer skips its ticks, but Start itself
// always completes.
func (p *Provider) Start(ctx context.Context) error {
	// Bind here, not in the goroutine: a port in use is Start's error, and
	// the agent shuts down cleanly, instead of a goroutine killing the
	// process.
	ln, err := net.Listen("tcp", p.cfg.Address)
	if err != nil {
		return fmt.Errorf("starting the %s: %w", serverGoroutine, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /hello", promhttp.InstrumentHandlerCounter(p.requests, http.HandlerFunc(p.hello)))
	p.ln = ln
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	if err := p.group.GoContext(ctx, serverGoroutine, p.serve); err != nil {
		// The goroutine was not created (a fault point failed it): nothing
		// will close the listener but us.
		_ = ln.Close()
		p.srv = nil
		return err
	}
	p.rt.Logger.Info(fmt.Sprintf("Starting %s[%s]", serverGoroutine, ln.Addr()))
	// Any answer will do, a 404 included; it confirms the server is up, so
	// that Shutdown can drain it.
	if err := sdk.WaitForServerReady("http://"+ln.Addr().String()+"/", nil); err != nil {
		return err
	}

	// The goroutine's context is done at Shutdown (group.Stop); ctx, the
	// run context, is cancelled first, and then the timer skips its ticks.
	return p.group.GoContext(ctx, refreshGoroutine, func(gctx context.Context) {
		sdk.RefreshLoop(ctx, gctx.Done(), p.untilRefresh,
			func(ctx context.Context) { _ = p.refresh(ctx, sdk.ReasonExpires) },
			func() { p.rt.Logger.Info("Skipped to refresh the credential") })
	})
}

// serve runs the server until Shutdown closes it.
func (p *Provider) serve(context.Context) {
	if err := p.srv.Serve(p.ln); !errors.Is(err, http.ErrServerClosed) {
		p.rt.Logger.Error("The "+serverGoroutine+" stopped serving", "error", err)
	}
}

// drainTimeout bounds the graceful drain of requests at Shutdown; the
// agent's shutdown_timeout for the provider must exceed it.
const drainTimeout = 5 * time.Second

// Shutdown drains the server, stops the refresh timer and waits until
// every goroutine has returned.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.group == nil { // Init did not get that far: nothing runs.
		return nil
	}
	var err error
	if p.srv != nil {
		drain, cancel := context.WithTimeout(ctx, drainTimeout)
		defer cancel()
		if err = p.srv.Shutdown(drain); err != nil {
			// Requests still running after the drain are cut short.
			_ = p.srv.Close() // the drain error is the one to report
			err = fmt.Errorf("draining the %s: %w", serverGoroutine, err)
		}
		p.rt.Logger.Info("Stopped " + serverGoroutine)
	}
	p.group.Stop()
	return err
}

// Addr is where the server listens, once Start has bound it.
func (p *Provider) Addr() net.Addr {
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

func (p *Provider) hello(w http.ResponseWriter, r *http.Request) {
	c := p.cred.Load()
	if c == nil || time.Now().After(c.expires) {
		// Never serve an expired credential.
		http.Error(w, "no valid credential yet", http.StatusServiceUnavailable)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, "%s, %s! (credential #%d, valid until %s)\n", p.cfg.Greeting, name, c.serial, c.expires.UTC().Format(time.RFC3339)) //nolint:gosec // G705: plain text, never sniffed as HTML
}

// untilRefresh is how long until the credential is due: RefreshBefore
// ahead of its expiry, at once when there is none.
func (p *Provider) untilRefresh() time.Duration {
	c := p.cred.Load()
	if c == nil {
		return time.Second
	}
	return max(time.Until(c.expires.Add(-p.cfg.RefreshBefore.Std())), 0)
}

// refresh gets a new credential, retrying with backoff until it succeeds,
// the retries give up, or ctx is cancelled (the agent is shutting down),
// and reports the outcome to the agent.
func (p *Provider) refresh(ctx context.Context, reason sdk.Reason) error {
	started := time.Now()
	var fresh *credential
	err := sdk.Retry(ctx, sdk.RetryPolicy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxElapsed: p.cfg.RefreshBefore.Std() / 2},
		func(ctx context.Context) error {
			var err error
			fresh, err = p.issue(ctx)
			return err
		},
		func(err error, wait time.Duration) {
			p.rt.Logger.Warn(fmt.Sprintf("Failed to refresh the credential: %v. Retrying in %v", err, wait))
		})
	if err == nil {
		p.cred.Store(fresh)
		p.rt.Logger.Info("Refreshed the credential", "serial", fresh.serial, "expires", fresh.expires.UTC().Format(time.RFC3339))
	} else {
		p.rt.Logger.Error("Failed to refresh the credential", "error", err)
	}

	rec := sdk.StatusRecord{
		Credential: credentialName,
		Kind:       "pretend",
		Reason:     reason,
		Outcome:    sdk.Outcome(err), // SUCCESS, or the error's class: CANCELED, TIMEOUT, ...
		Err:        err,
		Started:    started,
		Duration:   time.Since(started),
		NextUpdate: time.Now().Add(p.untilRefresh()),
	}
	if c := p.cred.Load(); c != nil {
		rec.LastUpdate, rec.Expiry = c.issued, c.expires
	}
	p.refreshes.WithLabelValues(sdk.Outcome(err)).Inc()
	// Report even when ctx was cancelled: the record says so.
	reportCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := p.rt.Host.ReportStatus(reportCtx, rec); rerr != nil {
		p.rt.Logger.Warn("Reporting the credential's status failed", "error", rerr)
	}
	return err
}

// issue is where a real provider would call its upstream. The fault point
// "issue" lets a test make it fail (SIA_FAULTS="<name>:issue=fail:boom").
func (p *Provider) issue(ctx context.Context) (*credential, error) {
	if err := p.rt.Fault(ctx, "issue"); err != nil {
		return nil, err
	}
	now := time.Now()
	return &credential{serial: p.serial.Add(1), issued: now, expires: now.Add(p.cfg.Lifetime.Std())}, nil
}
