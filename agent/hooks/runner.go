package hooks

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// Change is a successful update of a credential: what a provider's status
// record says when the credential was replaced.
type Change struct {
	Provider, Credential string
	Files                []string // the paths the update wrote
}

func (c Change) name() string { return c.Provider + "/" + c.Credential }

// Runner runs the hooks of a pipeline. Changed hands it updates; each hook
// runs in a goroutine of its own, so that a slow one delays no other.
type Runner struct {
	log     hclog.Logger
	hooks   []*hook
	report  func(sdk.HookStatus)
	metrics *metrics

	stop    chan struct{} // closed by Close
	runCtx  context.Context
	cancel  context.CancelFunc // ends a run still going when Close gives up
	wg      sync.WaitGroup
	started bool
}

type hook struct {
	cfg  Config
	kick chan struct{} // a change is pending; capacity 1

	mu      sync.Mutex
	pending []Change  // since the last run, one per credential
	first   time.Time // when the oldest of them came
}

// New returns a runner of the hooks in list. report receives the outcome
// of every run, for the status report; it may be nil.
func New(list List, log hclog.Logger, report func(sdk.HookStatus)) *Runner {
	if report == nil {
		report = func(sdk.HookStatus) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{log: log, report: report, metrics: newMetrics(), stop: make(chan struct{}), runCtx: ctx, cancel: cancel}
	for _, cfg := range list {
		r.hooks = append(r.hooks, &hook{cfg: cfg, kick: make(chan struct{}, 1)})
		r.metrics.add(cfg.Name)
		report(sdk.HookStatus{Name: cfg.Name})
	}
	return r
}

// Start starts a goroutine per hook.
func (r *Runner) Start() {
	r.started = true
	for _, h := range r.hooks {
		r.wg.Go(func() { r.loop(h) })
	}
}

// Changed tells every hook that watches c's credential that it changed.
// It never blocks.
func (r *Runner) Changed(c Change) {
	for _, h := range r.hooks {
		if h.cfg.watches(c.Provider, c.Credential) {
			h.add(c, time.Now())
		}
	}
}

// Close stops the hooks. A run under way may finish until ctx is done,
// then its command is killed; changes still waiting for their run are
// dropped, and said so.
func (r *Runner) Close(ctx context.Context) {
	close(r.stop)
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
}

func (h *hook) add(c Change, now time.Time) {
	h.mu.Lock()
	if len(h.pending) == 0 {
		h.first = now
	}
	i := slices.IndexFunc(h.pending, func(p Change) bool { return p.name() == c.name() })
	if i < 0 {
		h.pending = append(h.pending, c)
	} else {
		h.pending[i] = c
	}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// take returns the pending changes and forgets them.
func (h *hook) take() []Change {
	h.mu.Lock()
	defer h.mu.Unlock()
	changes := h.pending
	h.pending = nil
	return changes
}

// wait is how long to wait from now before the run: the debounce after
// the latest change, but no later than MaxDelay after the first.
func (h *hook) wait(now time.Time) time.Duration {
	h.mu.Lock()
	first := h.first
	h.mu.Unlock()
	return max(0, min(h.cfg.debounce(), first.Add(MaxDelay).Sub(now)))
}

// loop runs h once its changes stop coming for the debounce.
func (r *Runner) loop(h *hook) {
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-r.stop:
			timer.Stop()
			if changes := h.take(); len(changes) > 0 {
				r.log.Warn("Hook not run: the agent is shutting down", "hook", h.cfg.Name, "credentials", names(changes))
			}
			return
		case <-h.kick:
			timer.Reset(h.wait(time.Now()))
		case <-timer.C:
			// A kick may have come for changes the last run already took.
			if changes := h.take(); len(changes) > 0 {
				r.run(h, changes)
			}
		}
	}
}

func names(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.name()
	}
	return out
}
