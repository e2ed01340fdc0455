package agent

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sia-agent/sia-agent/agent/hooks"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// hookGrace is how long a hook's command still running at shutdown, or
// when a reload replaces the hooks, may finish before it is killed:
// shutdown is bounded, and the workload it would reload is being stopped
// too.
const hookGrace = 500 * time.Millisecond

// runningHooks are the pipeline's hooks while the agent runs; a reload
// that changes them replaces the runner. It is the hooks' metrics
// collector for the agent's registry, whichever runner is current.
type runningHooks struct {
	mu      sync.Mutex
	list    hooks.List
	current *hooks.Runner
	stopped bool
}

// startHooks starts the pipeline's hooks and has every successful update
// of a credential reach them. In init mode there are none to run: the
// workload has not started.
func (a *Agent) startHooks() *runningHooks {
	h := &runningHooks{}
	h.replace(a, a.pipeline.Hooks)
	a.store.OnRecord(func(provider string, rec *pluginpb.StatusRecord) {
		if change, ok := changeOf(provider, rec); ok {
			h.changed(change)
		}
	})
	return h
}

// replace runs list instead of the hooks that run, unless they are the
// same: a reload that leaves them alone leaves their debounce alone too.
func (h *runningHooks) replace(a *Agent, list hooks.List) {
	if a.opts.Mode == sdk.ModeInit {
		list = nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || h.current != nil && reflect.DeepEqual(h.list, list) {
		return
	}
	if h.current != nil {
		closeRunner(h.current)
		a.store.ResetHooks()
		a.log.Info("Applied the hooks", "hooks", len(list))
	}
	h.list, h.current = list, hooks.New(list, a.log, a.store.SetHook)
	h.current.Start()
}

func (h *runningHooks) changed(c hooks.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.current.Changed(c)
	}
}

// changeOf is the change a record tells of, if the credential was
// replaced: a success that did something.
func changeOf(provider string, rec *pluginpb.StatusRecord) (hooks.Change, bool) {
	if rec.GetUpdateOutcome() != sdk.OutcomeSuccess || rec.GetUpdateReason() == pluginpb.UpdateReason_UPDATE_REASON_IS_GOOD {
		return hooks.Change{}, false
	}
	return hooks.Change{Provider: provider, Credential: rec.GetCredential(), Files: rec.GetFiles()}, true
}

// stopHooks stops the hooks, once.
func stopHooks(h *runningHooks) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		closeRunner(h.current)
	}
}

func closeRunner(r *hooks.Runner) {
	ctx, cancel := context.WithTimeout(context.Background(), hookGrace)
	defer cancel()
	r.Close(ctx)
}

// Describe sends nothing: the hooks' series change with a reload, so the
// registry takes them unchecked.
func (h *runningHooks) Describe(chan<- *prometheus.Desc) {}

// Collect collects the current runner's series.
func (h *runningHooks) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	r := h.current
	h.mu.Unlock()
	r.Collector().Collect(ch)
}
