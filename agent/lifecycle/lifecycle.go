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
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

// Provider is a provider as the runner drives it: in the agent, one
// entry of the pipeline and its plugin process.
type Provider interface {
	Name() string
	// ShutdownTimeout bounds its Shutdown, after which its process is
	// killed and the next provider is shut down; 0 means a minute.
	ShutdownTimeout() time.Duration
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

// ExitError says that a provider's process died: it is the error of a
// call the process could not answer and, when the agent had not ended the
// process, the cause of the run it cancelled.
type ExitError struct {
	Name string
	Err  error // how the process exited; nil for status 0
	// Unexpected marks the cause of a cancelled run: an exit the agent
	// did not ask for.
	Unexpected bool
}

// Error says which provider exited, and how.
func (e *ExitError) Error() string {
	msg := "provider " + e.Name + " exited"
	if e.Unexpected {
		msg += " unexpectedly"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns how the process exited.
func (e *ExitError) Unwrap() error { return e.Err }

// Runner runs providers through the lifecycle.
type Runner struct {
	Logger    hclog.Logger
	Providers []Provider // in pipeline order
	Mode      sdk.Mode
	// Faults are the agent's fault points ("before <name> start", ...);
	// Signals records every signal handled, for "signal" faults.
	Faults  *fault.Points
	Signals *fault.Signals
	// OnState, if set, hears every state change of a provider; OnPhase
	// hears the agent's phase: init, start, running, shutdown.
	OnState func(name string, s State, err error)
	OnPhase func(phase Phase)

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

	slots []*slot // one per provider, in pipeline order

	mu       sync.Mutex
	stopping bool // shutdown has begun

	// relaying holds a token while a cancellation is relayed to the
	// providers: a channel rather than a mutex, so that waiting for it is
	// a channel operation like every other wait of the runner.
	relaying chan struct{}
}

// slot is the runner's record of one provider.
type slot struct {
	Provider
	// Guarded by Runner.mu:
	state  State // its last state
	killed bool  // the runner ended its process on purpose
}

// Run runs the lifecycle to its end and returns the exit code: 0 after a
// signal (or a completed init in init mode), 1 after a failure. sigs
// delivers SIGINT and SIGTERM.
func (r *Runner) Run(sigs <-chan os.Signal) int {
	r.initCtx, r.cancelInit = context.WithCancelCause(context.Background())
	r.runCtx, r.cancelRun = context.WithCancelCause(context.Background())
	r.slots = make([]*slot, len(r.Providers))
	for i, p := range r.Providers {
		r.slots[i] = &slot{Provider: p}
	}
	r.relaying = make(chan struct{}, 1)
	if r.Signals == nil {
		r.Signals = &fault.Signals{}
	}

	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { r.handleSignals(sigs, quit) })
	for _, s := range r.slots {
		wg.Go(func() { r.watchExit(s, quit) })
		wg.Go(func() { r.watchPings(s, quit) })
	}

	r.phase(PhaseInit)
	r.initAll()
	if r.Mode == sdk.ModeInit {
		if cause := context.Cause(r.initCtx); cause == nil {
			r.Logger.Info("Init completed!")
		} else {
			r.Logger.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", cause))
		}
	} else {
		r.phase(PhaseStart)
		r.startAll()
		if r.runCtx.Err() == nil {
			r.phase(PhaseRunning)
			r.Logger.Info(fmt.Sprintf("All %d providers started; running until a signal", len(r.slots)))
		}
		<-r.runCtx.Done()
		r.Logger.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", context.Cause(r.runCtx)))
	}

	r.phase(PhaseShutdown)
	r.awaitRelay()
	r.shutdownAll()
	close(quit)
	wg.Wait()
	r.cancelInit(context.Canceled)
	r.cancelRun(context.Canceled)
	return r.finish()
}

func (r *Runner) initAll() {
	for _, s := range r.slots {
		name := s.Name()
		err := r.Faults.Hit(r.initCtx, "before "+name+" init")
		if err == nil && r.initCtx.Err() != nil {
			r.Logger.Info(fmt.Sprintf("Skipped %s initiation", name))
			r.state(s, StateSkipped, nil)
			continue
		}
		if err == nil {
			err = s.Init(context.WithoutCancel(r.initCtx))
		}
		switch {
		case err == nil:
			r.state(s, StateInitialized, nil)
		case r.initCtx.Err() != nil:
			// A signal stopped it: not a failure.
			r.Logger.Info(fmt.Sprintf("Stopped %s initiation: %v", name, err))
			r.state(s, StateSkipped, err)
		default:
			r.Logger.Error(fmt.Sprintf("Error initializing %s: %v", name, err))
			r.state(s, StateFailed, err)
			r.cancel(Cancellation{Init: true, Run: true, Cause: &InitFailedError{Name: name, Err: err}})
		}
	}
}

func (r *Runner) startAll() {
	for _, s := range r.slots {
		name := s.Name()
		err := r.Faults.Hit(r.runCtx, "before "+name+" start")
		if err == nil && r.runCtx.Err() != nil {
			r.Logger.Info(fmt.Sprintf("Skipped %s start", name))
			if r.lastState(s) != StateFailed { // a failed init says more
				r.state(s, StateSkipped, nil)
			}
			continue
		}
		if err == nil {
			r.Logger.Info("Starting " + name)
			err = s.Start(context.WithoutCancel(r.runCtx))
		}
		if err != nil {
			r.Logger.Error(fmt.Sprintf("Error starting %s: %v", name, err))
			r.state(s, StateFailed, err)
			r.cancel(Cancellation{Run: true, Cause: &StartFailedError{Name: name, Err: err}})
			continue
		}
		r.Logger.Info("Started " + name)
		r.state(s, StateStarted, nil)
	}
}

// shutdownAll shuts every provider down in reverse order, skipped ones
// included, each within its own timeout, then ends their processes.
func (r *Runner) shutdownAll() {
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	for _, s := range slices.Backward(r.slots) {
		r.shutdown(s)
	}
	var wg sync.WaitGroup
	for _, s := range r.slots {
		wg.Go(func() { r.kill(s) })
	}
	wg.Wait()
}

// shutdown runs one provider's Shutdown within its timeout, killing its
// process when it runs past it.
func (r *Runner) shutdown(s *slot) {
	name := s.Name()
	r.Logger.Info(fmt.Sprintf("Initiating shutdown of %s ...", name))
	timeout := shutdownTimeout(s)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := s.Shutdown(ctx)
	timedOut := ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
	cancel()
	switch {
	case timedOut:
		r.Logger.Error(fmt.Sprintf("Shutdown of %s did not finish within %v; killing its process", name, timeout))
		r.abort(s)
		r.state(s, StateFailed, fmt.Errorf("shutdown timed out after %v", timeout))
	case err != nil:
		r.Logger.Error(fmt.Sprintf("Error shutting down %s: %v", name, err))
		r.state(s, StateFailed, err)
	default:
		r.Logger.Info(fmt.Sprintf("Stopped %s", name))
		if last := r.lastState(s); last != StateFailed && last != StateSkipped {
			// A failed or skipped provider keeps that state, and its
			// error, in the report: that it then shut down cleanly is
			// not news.
			r.state(s, StateStopped, nil)
		}
	}
}

func (r *Runner) kill(s *slot) {
	r.expectExit(s)
	s.Kill()
}

func (r *Runner) abort(s *slot) {
	r.expectExit(s)
	s.Abort()
}

// expectExit notes that s's process is ended on purpose, so that its exit
// does not count as a crash.
func (r *Runner) expectExit(s *slot) {
	r.mu.Lock()
	s.killed = true
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

func (r *Runner) watchExit(s *slot, quit <-chan struct{}) {
	select {
	case <-quit:
		return
	case <-s.Exited():
	}
	r.mu.Lock()
	expected := s.killed
	r.mu.Unlock()
	if expected {
		return
	}
	cause := &ExitError{Name: s.Name(), Err: s.ExitErr(), Unexpected: true}
	r.Logger.Error(cause.Error())
	r.state(s, StateExited, s.ExitErr())
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
	for _, s := range r.slots {
		select {
		case <-s.Exited():
			continue
		default:
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
			defer cancel()
			if err := s.Cancel(ctx, c); err != nil {
				r.Logger.Debug("could not relay cancellation", "provider", s.Name(), "error", err)
			}
		})
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

// shutdownTimeout is p's, or a minute when it sets none.
func shutdownTimeout(p Provider) time.Duration {
	if d := p.ShutdownTimeout(); d > 0 {
		return d
	}
	return time.Minute
}

func (r *Runner) phase(p Phase) {
	if r.OnPhase != nil {
		r.OnPhase(p)
	}
}

func (r *Runner) state(s *slot, state State, err error) {
	r.mu.Lock()
	s.state = state
	r.mu.Unlock()
	if r.OnState != nil {
		r.OnState(s.Name(), state, err)
	}
}

func (r *Runner) lastState(s *slot) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.state
}

// watchPings pings s every PingInterval until quit or until its process is
// gone. A provider that stops answering is reported; one that has not
// answered for UnresponsiveTimeout is killed and the run cancelled with a
// cause naming it, as a crash would. Once shutdown has begun, the
// shutdown's own deadlines bound it instead.
func (r *Runner) watchPings(s *slot, quit <-chan struct{}) {
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
		case <-s.Exited():
			return
		case <-tick.C:
		}
		var err error
		silentSince, err = r.ping(s, silentSince)
		if err == nil || r.UnresponsiveTimeout <= 0 || time.Since(silentSince) < r.UnresponsiveTimeout {
			continue
		}
		r.mu.Lock()
		stopping := r.stopping
		r.mu.Unlock()
		if stopping {
			return
		}
		cause := &UnresponsiveError{Name: s.Name(), Since: silentSince, Err: err}
		r.Logger.Error(cause.Error())
		r.abort(s)
		r.state(s, StateExited, cause)
		r.cancel(Cancellation{Init: true, Run: true, Cause: cause})
		return
	}
}

// ping pings s once and reports a change in whether it answers. It
// returns when s first did not answer (zero while it answers) and the
// ping's error.
func (r *Runner) ping(s *slot, silentSince time.Time) (time.Time, error) {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), r.PingInterval)
	err := s.Ping(ctx)
	cancel()
	switch {
	case err == nil && !silentSince.IsZero():
		r.responsive(s.Name(), nil)
		r.Logger.Info("Provider answers again", "provider", s.Name(), "silent_for", time.Since(silentSince).Round(time.Millisecond).String())
		return time.Time{}, nil
	case err != nil && silentSince.IsZero():
		r.responsive(s.Name(), err)
		r.Logger.Warn("Provider does not answer", "provider", s.Name(), "error", err)
		return sent, err
	}
	return silentSince, err
}

func (r *Runner) responsive(name string, err error) {
	if r.OnResponsive != nil {
		r.OnResponsive(name, err)
	}
}
