package lifecycle

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"

	"github.com/sia-agent/sia-agent/sdk"
)

// Plan is what a reload changes: the pipeline after it, provider by
// provider, in its order.
type Plan struct {
	Steps []Step
}

// Step is one provider of the pipeline after a reload.
type Step struct {
	// Running is the provider as it runs now; nil for one the reload adds.
	// A running provider that no step names is removed: shut down.
	Running Provider
	// New is the provider launched, and validated, with its new
	// configuration; nil when its configuration did not change.
	New Provider
	// Reconfigure, when set, applies the new configuration to Running in
	// place, and New is ended unused. When it fails, or is not set,
	// Running is shut down and New initialised and started in its place.
	Reconfigure func(ctx context.Context) error
}

// Apply applies a reload's plan, keeping the lifecycle's order rules:
// first the changed providers that can are reconfigured in place, in
// pipeline order; then the removed providers and those to restart are
// shut down, in reverse order of the pipeline they ran in, each within
// its own timeout; then the added and restarted ones are initialised in
// the new pipeline's order, and started in it. Unchanged providers keep
// running throughout. A failed Init or Start cancels the run, as it does
// at start-up. Apply is called only by Reload. It returns false when the
// run was cancelled before anything was shut down: then it ended the new
// providers, and the pipeline is the one that ran (changes applied in
// place aside).
func (r *Runner) Apply(ctx context.Context, plan Plan) bool {
	steps := slices.Clone(plan.Steps)
	r.reconfigure(ctx, steps)
	if r.runCtx.Err() != nil {
		// A crash or a failure during the reload: shutdown comes next, of
		// the pipeline as it ran.
		r.endUnused(steps)
		return false
	}
	r.stopReplaced(steps)
	added := r.replaceSlots(steps)
	for _, s := range added {
		r.initOne(s)
	}
	for _, s := range added {
		r.startOne(s)
	}
	return true
}

// reconfigure tries every step that may be applied in place; those that
// are lose their New, which is ended, and the others their Reconfigure.
func (r *Runner) reconfigure(ctx context.Context, steps []Step) {
	for i, st := range steps {
		if st.Running == nil || st.New == nil || r.runCtx.Err() != nil {
			continue
		}
		name := st.Running.Name()
		if st.Reconfigure == nil {
			r.Logger.Info(fmt.Sprintf("Restarting %s to apply its new plugin", name))
			continue
		}
		if err := st.Reconfigure(ctx); err != nil {
			r.Logger.Info(fmt.Sprintf("Restarting %s to apply its new configuration: %v", name, err))
			steps[i].Reconfigure = nil
			continue
		}
		r.Logger.Info(fmt.Sprintf("Reconfigured %s in place", name))
		st.New.Kill()
		steps[i].New = nil
	}
}

// endUnused ends the processes of the steps' new providers.
func (r *Runner) endUnused(steps []Step) {
	for _, st := range steps {
		if st.New != nil {
			st.New.Kill()
		}
	}
}

// stopReplaced shuts down, in reverse pipeline order, the running
// providers that no step keeps, then ends their processes.
func (r *Runner) stopReplaced(steps []Step) {
	kept := make(map[Provider]bool, len(steps))
	for _, st := range steps {
		if st.Running != nil && st.New == nil {
			kept[st.Running] = true
		}
	}
	r.mu.Lock()
	slots := slices.Clone(r.slots)
	r.mu.Unlock()
	var stopped []*slot
	for _, s := range slices.Backward(slots) {
		if !kept[s.Provider] {
			r.shutdown(s)
			stopped = append(stopped, s)
		}
	}
	r.killAll(stopped)
}

// replaceSlots makes the steps the runner's providers, in their order,
// and returns the slots of the new ones, which it watches.
func (r *Runner) replaceSlots(steps []Step) []*slot {
	r.mu.Lock()
	byProvider := make(map[Provider]*slot, len(r.slots))
	for _, s := range r.slots {
		byProvider[s.Provider] = s
	}
	next := make([]*slot, 0, len(steps))
	var added []*slot
	for _, st := range steps {
		if st.New == nil {
			next = append(next, byProvider[st.Running])
			continue
		}
		s := &slot{Provider: st.New, state: StateLoaded}
		next = append(next, s)
		added = append(added, s)
	}
	r.slots = next
	r.mu.Unlock()
	for _, s := range added {
		r.watch(s)
	}
	return added
}

// reloads is the signal handler's record of SIGHUPs: reloads run one at a
// time, and only once every provider started; a SIGHUP that comes before
// then, or during a reload, makes one reload run when it can; any other
// signal that comes during a reload is handled when the reload ends.
type reloads struct {
	running  bool      // every provider started
	under    bool      // a reload runs
	pending  bool      // a reload is to run as soon as it can
	deferred os.Signal // the first signal that came during a reload
}

// handleSignals handles every signal until quit: SIGHUP reloads, any
// other signal cancels the run.
func (r *Runner) handleSignals(sigs <-chan os.Signal) {
	st := reloads{pending: r.ReloadPending && r.Mode != sdk.ModeInit}
	if r.ReloadPending && !st.pending {
		r.Logger.Warn("Ignoring SIGHUP: the agent runs in init mode, which does not reload")
	}
	started := r.started
	done := make(chan struct{}, 1)
	for {
		select {
		case <-r.quit:
			return
		case <-started:
			started = nil
			st.running = true
		case <-done:
			st.under = false
			if sig := st.deferred; sig != nil {
				st.deferred = nil
				r.signal(sig)
			}
		case sig := <-sigs:
			r.Logger.Info("Received signal: " + sig.String())
			r.received(&st, sig)
		case <-r.Requests:
			r.Logger.Info("The pipeline file changed")
			r.received(&st, syscall.SIGHUP)
		}
		if r.nextReload(&st) {
			r.wg.Go(func() {
				r.reload()
				done <- struct{}{}
			})
		}
	}
}

// received handles sig, or notes it for when it can be.
func (r *Runner) received(st *reloads, sig os.Signal) {
	switch {
	case sig == syscall.SIGHUP && r.Mode == sdk.ModeInit:
		r.Logger.Warn("Ignoring SIGHUP: the agent runs in init mode, which does not reload")
	case sig == syscall.SIGHUP && r.Reload == nil:
		r.Logger.Warn("Ignoring SIGHUP: nothing to reload")
	case sig == syscall.SIGHUP && r.shuttingDown():
		r.Logger.Warn("Ignoring SIGHUP: shutdown is in progress")
	case sig == syscall.SIGHUP:
		if !st.running {
			r.Logger.Info("Reloading once every provider started")
		} else if st.under {
			r.Logger.Info("A reload is under way: the pipeline is read again once it ends")
		}
		st.pending = true
	case st.under:
		r.Logger.Info("A reload is under way: the signal is handled once it ends")
		if st.deferred == nil {
			st.deferred = sig
		}
	default:
		r.signal(sig)
	}
}

// nextReload says whether a reload is to run now, and marks it under way.
func (r *Runner) nextReload(st *reloads) bool {
	if !st.pending || !st.running || st.under {
		return false
	}
	st.pending = false
	if r.shuttingDown() {
		r.Logger.Warn("Ignoring SIGHUP: shutdown is in progress")
		return false
	}
	st.under = true
	return true
}

// signal cancels the run for sig, and tells the providers.
func (r *Runner) signal(sig os.Signal) {
	r.mu.Lock()
	stopping := r.stopping
	r.mu.Unlock()
	if stopping {
		r.Logger.Info("Shutdown is in progress; it runs to the end")
	}
	r.cancel(Cancellation{Init: true, Run: true, Cause: &SignalError{Signal: sig}, Signal: sig})
	r.Signals.Handled()
}

// shuttingDown reports a run that is over: cancelled, or shutting down.
func (r *Runner) shuttingDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping || r.runCtx.Err() != nil
}

// reload runs Reload, unless shutdown began first.
func (r *Runner) reload() {
	r.reloading <- struct{}{}
	defer func() { <-r.reloading }()
	if r.Reload == nil || r.shuttingDown() {
		return
	}
	r.Reload(r.runCtx)
}

// awaitReload waits for a reload under way to end, and marks the run as
// stopping so that no other begins.
func (r *Runner) awaitReload() {
	r.reloading <- struct{}{}
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	<-r.reloading
}
