// Package lifecycle runs the refresh-mode lifecycle of the specification
// across providers: init in order, start in order (skipping once the run
// is cancelled, cancelling it on a start error), wait, then shut every
// provider down in reverse order, gracefully and one at a time.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

// Unit is one provider as the runner drives it.
type Unit interface {
	Name() string
	// Init, Start and Shutdown run the provider's phase. The runner never
	// cancels their contexts to cut them short; it relays cancellation
	// through Cancel instead, as the specification asks.
	Init(ctx context.Context) error
	Start(ctx context.Context) error
	Cancel(ctx context.Context, c Cancellation) error
	Shutdown(ctx context.Context) error
	// Ping checks, within ctx's deadline, that the provider answers.
	Ping(ctx context.Context) error
	// Kill ends the provider's process, asking it first; Abort ends it at
	// once. Both return once it is gone, and Exited is closed then.
	Kill()
	Abort()
	Exited() <-chan struct{}
	ExitErr() error
}

// Cancellation tells a provider that the agent cancelled a context.
type Cancellation struct {
	Init, Run bool
	Cause     error
	Signal    os.Signal // the signal that caused it, if any
}

// State is where a provider is in the lifecycle.
type State string

// States a provider goes through.
const (
	StateInitialized State = "initialized"
	StateStarted     State = "started"
	StateSkipped     State = "skipped"
	StateFailed      State = "failed"
	StateStopped     State = "stopped"
	StateExited      State = "exited"
)

// SignalError is the cause of a run cancelled by a signal.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return "received signal: " + e.Signal.String() }

// StartFailedError is the cause of a run cancelled by a failed Start.
type StartFailedError struct {
	Name string
	Err  error
}

func (e *StartFailedError) Error() string { return "start failed: " + e.Err.Error() }
func (e *StartFailedError) Unwrap() error { return e.Err }

// InitFailedError is the cause of a run cancelled by a failed Init.
type InitFailedError struct {
	Name string
	Err  error
}

func (e *InitFailedError) Error() string { return "init failed: " + e.Name + ": " + e.Err.Error() }
func (e *InitFailedError) Unwrap() error { return e.Err }

// UnresponsiveError is the cause of a run cancelled because a provider
// stopped answering: it is treated like a crashed one.
type UnresponsiveError struct {
	Name  string
	Since time.Time // the first unanswered ping
	Err   error     // why the last ping failed
}

func (e *UnresponsiveError) Error() string {
	return fmt.Sprintf("provider %s stopped answering at %s (last ping: %v); killed it",
		e.Name, e.Since.UTC().Format(time.RFC3339), e.Err)
}

func (e *UnresponsiveError) Unwrap() error { return e.Err }

// relayTimeout bounds the relay of a cancellation to one provider. A
// Cancel costs a plugin nothing, so one that takes longer is frozen, and
// shutdown must not wait for it.
const relayTimeout = 500 * time.Millisecond

// ExitedError is the cause of a run cancelled because a provider's process
// died.
type ExitedError struct {
	Name string
	Err  error // how it exited
}

func (e *ExitedError) Error() string {
	if e.Err == nil {
		return "provider " + e.Name + " exited unexpectedly"
	}
	return "provider " + e.Name + " exited unexpectedly: " + e.Err.Error()
}

// Runner runs providers through the lifecycle.
type Runner struct {
	Logger hclog.Logger
	Units  []Unit
	Mode   sdk.Mode
	// ShutdownTimeout bounds one provider's Shutdown, after which its
	// process is killed and the next provider is shut down.
	ShutdownTimeout func(name string) time.Duration
	// Faults are the agent's fault points ("before <name> start", ...);
	// Signals records every signal handled, for "signal" faults.
	Faults  *fault.Points
	Signals *fault.Signals
	// OnState, if set, hears every state change of a provider; OnPhase
	// hears the agent's phase: init, start, running, shutdown.
	OnState func(name string, s State, err error)
	OnPhase func(phase string)

	// PingInterval is how often every provider is pinged, each ping
	// bounded by the interval; 0 turns the watch off. A provider that
	// does not answer is reported to OnResponsive, and one that has not
	// answered for UnresponsiveTimeout (when above 0) is killed and the
	// run cancelled, as if it had crashed.
	PingInterval        time.Duration
	UnresponsiveTimeout time.Duration
	// OnResponsive, if set, hears a provider stop answering (err, the
	// failed ping) and answer again (nil).
	OnResponsive func(name string, err error)

	initCtx, runCtx       context.Context
	cancelInit, cancelRun context.CancelCauseFunc

	mu       sync.Mutex
	stopping bool             // shutdown has begun
	killed   map[string]bool  // processes the runner ended on purpose
	states   map[string]State // each provider's last state

	// relaying holds a token while a cancellation is relayed to the
	// providers: a channel rather than a mutex, so that waiting for it is
	// a channel operation like every other wait of the runner.
	relaying chan struct{}
}

// Run runs the lifecycle to its end and returns the exit code: 0 after a
// signal (or a completed init in init mode), 1 after a failure. sigs
// delivers SIGINT and SIGTERM.
func (r *Runner) Run(sigs <-chan os.Signal) int {
	r.initCtx, r.cancelInit = context.WithCancelCause(context.Background())
	r.runCtx, r.cancelRun = context.WithCancelCause(context.Background())
	r.killed = make(map[string]bool)
	r.states = make(map[string]State, len(r.Units))
	r.relaying = make(chan struct{}, 1)
	if r.Signals == nil {
		r.Signals = &fault.Signals{}
	}

	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.handleSignals(sigs, quit)
	}()
	for _, u := range r.Units {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.watchExit(u, quit)
		}()
		go func() {
			defer wg.Done()
			r.watchPings(u, quit)
		}()
	}

	r.phase("init")
	r.initAll()
	if r.Mode == sdk.ModeInit {
		if cause := context.Cause(r.initCtx); cause == nil {
			r.Logger.Info("Init completed!")
		} else {
			r.Logger.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", cause))
		}
	} else {
		r.phase("start")
		r.startAll()
		if r.runCtx.Err() == nil {
			r.phase("running")
			r.Logger.Info(fmt.Sprintf("All %d providers started; running until a signal", len(r.Units)))
		}
		<-r.runCtx.Done()
		r.Logger.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", context.Cause(r.runCtx)))
	}

	r.phase("shutdown")
	r.awaitRelay()
	r.shutdownAll()
	close(quit)
	wg.Wait()
	r.cancelInit(context.Canceled)
	r.cancelRun(context.Canceled)
	return r.finish()
}

func (r *Runner) initAll() {
	for _, u := range r.Units {
		name := u.Name()
		err := r.Faults.Hit(r.initCtx, "before "+name+" init")
		if err == nil && r.initCtx.Err() != nil {
			r.Logger.Info(fmt.Sprintf("Skipped %s initiation", name))
			r.state(name, StateSkipped, nil)
			continue
		}
		if err == nil {
			err = u.Init(context.WithoutCancel(r.initCtx))
		}
		switch {
		case err == nil:
			r.state(name, StateInitialized, nil)
		case r.initCtx.Err() != nil:
			// A signal stopped it: not a failure.
			r.Logger.Info(fmt.Sprintf("Stopped %s initiation: %v", name, err))
			r.state(name, StateSkipped, err)
		default:
			r.Logger.Error(fmt.Sprintf("Error initializing %s: %v", name, err))
			r.state(name, StateFailed, err)
			r.cancel(Cancellation{Init: true, Run: true, Cause: &InitFailedError{Name: name, Err: err}})
		}
	}
}

func (r *Runner) startAll() {
	for _, u := range r.Units {
		name := u.Name()
		err := r.Faults.Hit(r.runCtx, "before "+name+" start")
		if err == nil && r.runCtx.Err() != nil {
			r.Logger.Info(fmt.Sprintf("Skipped %s start", name))
			if r.lastState(name) != StateFailed { // a failed init says more
				r.state(name, StateSkipped, nil)
			}
			continue
		}
		if err == nil {
			err = u.Start(context.WithoutCancel(r.runCtx))
		}
		if err != nil {
			r.Logger.Error(fmt.Sprintf("Error starting %s: %v", name, err))
			r.state(name, StateFailed, err)
			r.cancel(Cancellation{Run: true, Cause: &StartFailedError{Name: name, Err: err}})
			continue
		}
		r.state(name, StateStarted, nil)
	}
}

// shutdownAll shuts every provider down in reverse order, skipped ones
// included, each within its own timeout, then ends their processes.
func (r *Runner) shutdownAll() {
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	for i := len(r.Units) - 1; i >= 0; i-- {
		u := r.Units[i]
		name := u.Name()
		r.Logger.Info(fmt.Sprintf("Initiating shutdown of %s ...", name))
		timeout := r.shutdownTimeout(name)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := u.Shutdown(ctx)
		timedOut := ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
		cancel()
		switch {
		case timedOut:
			r.Logger.Error(fmt.Sprintf("Shutdown of %s did not finish within %v; killing its process", name, timeout))
			r.abort(u)
			r.state(name, StateFailed, fmt.Errorf("shutdown timed out after %v", timeout))
		case err != nil:
			r.Logger.Error(fmt.Sprintf("Error shutting down %s: %v", name, err))
			r.state(name, StateFailed, err)
		default:
			r.Logger.Info(fmt.Sprintf("Stopped %s", name))
			if r.lastState(name) != StateFailed && r.lastState(name) != StateSkipped {
				// A failed or skipped provider keeps that state, and its
				// error, in the report: that it then shut down cleanly
				// is not news.
				r.state(name, StateStopped, nil)
			}
		}
	}
	var wg sync.WaitGroup
	for _, u := range r.Units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.kill(u)
		}()
	}
	wg.Wait()
}

func (r *Runner) kill(u Unit) {
	r.expectExit(u)
	u.Kill()
}

func (r *Runner) abort(u Unit) {
	r.expectExit(u)
	u.Abort()
}

// expectExit notes that u's process is ended on purpose, so that its exit
// does not count as a crash.
func (r *Runner) expectExit(u Unit) {
	r.mu.Lock()
	r.killed[u.Name()] = true
	r.mu.Unlock()
}

// finish logs the last line and returns the exit code.
func (r *Runner) finish() int {
	cause := context.Cause(r.runCtx)
	if r.Mode == sdk.ModeInit {
		cause = context.Cause(r.initCtx)
	}
	var sig *SignalError
	var initFailed *InitFailedError
	var startFailed *StartFailedError
	switch {
	case errors.As(cause, &sig):
		r.Logger.Info("Shutdown completed!")
		return 0
	case errors.As(cause, &initFailed):
		r.Logger.Error(fmt.Sprintf("Init failed by cause: %v", cause))
	case errors.As(cause, &startFailed):
		r.Logger.Error(fmt.Sprintf("Start failed by cause: %v", cause))
	case cause == context.Canceled: //nolint:errorlint // the sentinel itself: init mode ended as it should; a wrapped one is a failure
		// init mode, nothing went wrong
		r.Logger.Info("Shutdown completed!")
		return 0
	default:
		r.Logger.Error(fmt.Sprintf("Run failed by cause: %v", cause))
	}
	return 1
}

func (r *Runner) handleSignals(sigs <-chan os.Signal, quit <-chan struct{}) {
	for {
		select {
		case <-quit:
			return
		case sig := <-sigs:
			r.Logger.Info("Received signal: " + sig.String())
			if sig == syscall.SIGHUP {
				// Until the agent can reload its pipeline, a hangup must
				// neither kill it nor go unnoticed.
				r.Logger.Warn("Ignoring SIGHUP: reloading the pipeline is not supported; restart the agent to apply a changed pipeline")
				continue
			}
			r.mu.Lock()
			stopping := r.stopping
			r.mu.Unlock()
			if stopping {
				r.Logger.Info("Shutdown is in progress; it runs to the end")
			}
			r.cancel(Cancellation{Init: true, Run: true, Cause: &SignalError{Signal: sig}, Signal: sig})
			r.Signals.Handled()
		}
	}
}

func (r *Runner) watchExit(u Unit, quit <-chan struct{}) {
	select {
	case <-quit:
		return
	case <-u.Exited():
	}
	r.mu.Lock()
	expected := r.killed[u.Name()]
	r.mu.Unlock()
	if expected {
		return
	}
	cause := &ExitedError{Name: u.Name(), Err: u.ExitErr()}
	r.Logger.Error(cause.Error())
	r.state(u.Name(), StateExited, u.ExitErr())
	r.cancel(Cancellation{Init: true, Run: true, Cause: cause})
}

// cancel cancels the agent's contexts and tells every live provider.
func (r *Runner) cancel(c Cancellation) {
	r.relaying <- struct{}{}
	defer func() { <-r.relaying }()
	if c.Init {
		r.cancelInit(c.Cause)
	}
	if c.Run {
		r.cancelRun(c.Cause)
	}
	var wg sync.WaitGroup
	for _, u := range r.Units {
		select {
		case <-u.Exited():
			continue
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
			defer cancel()
			if err := u.Cancel(ctx, c); err != nil {
				r.Logger.Debug("could not relay cancellation", "provider", u.Name(), "error", err)
			}
		}()
	}
	wg.Wait()
}

// awaitRelay waits until a cancellation being relayed has reached every
// provider. The main goroutine wakes as soon as runCtx is cancelled, while
// the signal handler is still telling the providers; without this wait a
// provider could get its Shutdown before it learns that its run context
// was cancelled, and run a last refresh or keep retrying.
func (r *Runner) awaitRelay() {
	r.relaying <- struct{}{}
	<-r.relaying
}

func (r *Runner) shutdownTimeout(name string) time.Duration {
	if r.ShutdownTimeout != nil {
		if d := r.ShutdownTimeout(name); d > 0 {
			return d
		}
	}
	return time.Minute
}

func (r *Runner) phase(p string) {
	if r.OnPhase != nil {
		r.OnPhase(p)
	}
}

func (r *Runner) state(name string, s State, err error) {
	r.mu.Lock()
	r.states[name] = s
	r.mu.Unlock()
	if r.OnState != nil {
		r.OnState(name, s, err)
	}
}

func (r *Runner) lastState(name string) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[name]
}

// watchPings pings u every PingInterval until quit or until its process is
// gone. A provider that stops answering is reported; one that has not
// answered for UnresponsiveTimeout is killed and the run cancelled with a
// cause naming it, as a crash would. Once shutdown has begun, the
// shutdown's own deadlines bound it instead.
func (r *Runner) watchPings(u Unit, quit <-chan struct{}) {
	if r.PingInterval <= 0 {
		return
	}
	tick := time.NewTicker(r.PingInterval)
	defer tick.Stop()
	var silentSince time.Time // when the first unanswered ping went out
	for {
		select {
		case <-quit:
			return
		case <-u.Exited():
			return
		case <-tick.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), r.PingInterval)
		err := u.Ping(ctx)
		cancel()
		switch {
		case err == nil && !silentSince.IsZero():
			r.responsive(u.Name(), nil)
			r.Logger.Info("Provider answers again", "provider", u.Name(), "silent_for", time.Since(silentSince).Round(time.Millisecond).String())
			silentSince = time.Time{}
		case err != nil && silentSince.IsZero():
			silentSince = sent
			r.responsive(u.Name(), err)
			r.Logger.Warn("Provider does not answer", "provider", u.Name(), "error", err)
		}
		if err == nil || r.UnresponsiveTimeout <= 0 || time.Since(silentSince) < r.UnresponsiveTimeout {
			continue
		}
		r.mu.Lock()
		stopping := r.stopping
		r.mu.Unlock()
		if stopping {
			return
		}
		cause := &UnresponsiveError{Name: u.Name(), Since: silentSince, Err: err}
		r.Logger.Error(cause.Error())
		r.abort(u)
		r.state(u.Name(), StateExited, cause)
		r.cancel(Cancellation{Init: true, Run: true, Cause: cause})
		return
	}
}

func (r *Runner) responsive(name string, err error) {
	if r.OnResponsive != nil {
		r.OnResponsive(name, err)
	}
}
