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
	// Kill ends the provider's process; Exited is closed once it is gone.
	Kill()
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

	initCtx, runCtx       context.Context
	cancelInit, cancelRun context.CancelCauseFunc

	mu       sync.Mutex
	stopping bool            // shutdown has begun
	killed   map[string]bool // processes the runner ended on purpose

	// relayMu is held while a cancellation is relayed to the providers.
	relayMu sync.Mutex
}

// Run runs the lifecycle to its end and returns the exit code: 0 after a
// signal (or a completed init in init mode), 1 after a failure. sigs
// delivers SIGINT and SIGTERM.
func (r *Runner) Run(sigs <-chan os.Signal) int {
	r.initCtx, r.cancelInit = context.WithCancelCause(context.Background())
	r.runCtx, r.cancelRun = context.WithCancelCause(context.Background())
	r.killed = make(map[string]bool)
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.watchExit(u, quit)
		}()
	}

	r.phase("init")
	r.initAll()
	if r.Mode == sdk.ModeInit {
		cause := context.Cause(r.initCtx)
		switch {
		case cause == nil:
			r.Logger.Info("Init completed!")
		default:
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
			r.state(name, StateSkipped, nil)
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
			r.kill(u)
			r.state(name, StateFailed, fmt.Errorf("shutdown timed out after %v", timeout))
		case err != nil:
			r.Logger.Error(fmt.Sprintf("Error shutting down %s: %v", name, err))
			r.state(name, StateFailed, err)
		default:
			r.Logger.Info(fmt.Sprintf("Stopped %s", name))
			r.state(name, StateStopped, nil)
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
	r.mu.Lock()
	r.killed[u.Name()] = true
	r.mu.Unlock()
	u.Kill()
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
	case cause == context.Canceled: // init mode, nothing went wrong
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
	r.relayMu.Lock()
	defer r.relayMu.Unlock()
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
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
	r.relayMu.Lock()
	r.relayMu.Unlock() //nolint:staticcheck // an empty critical section is the point
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
	if r.OnState != nil {
		r.OnState(name, s, err)
	}
}
