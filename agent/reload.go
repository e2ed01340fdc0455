package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// reconfigureTimeout bounds one provider's Reconfigure.
const reconfigureTimeout = 30 * time.Second

// reload reads the pipeline file again and applies what changed: the
// lifecycle's Reload, which runs it on SIGHUP. A file with any problem
// changes nothing. The outcome goes to the log, the status report and its
// metrics.
func (a *Agent) reload(ctx context.Context) {
	a.log.Info("Reloading the pipeline", "config", a.opts.Config)
	notifyReloading(a.log)
	defer notifyReloaded(a.log)
	next, diffs, launched, err := a.prepare(ctx)
	if err != nil {
		a.log.Error("Reload refused: the pipeline runs as it was", "config", a.opts.Config, "error", firstLine(err))
		a.store.SetReload(time.Now(), err)
		return
	}
	if !a.apply(ctx, next, diffs, launched) || ctx.Err() != nil {
		err := fmt.Errorf("the run ended during the reload: %w", context.Cause(ctx))
		a.log.Error("Reload failed", "error", err)
		a.store.SetReload(time.Now(), err)
		return
	}
	a.store.SetReload(time.Now(), nil)
	a.log.Info("Reloaded pipeline", append([]any{"config", a.opts.Config}, counts(diffs)...)...)
}

// prepare loads and validates the pipeline file, and launches and
// validates a plugin process for every provider the reload adds or
// changes. When anything is wrong it logs every problem, ends what it
// launched and returns why.
func (a *Agent) prepare(ctx context.Context) (*pipeline.Pipeline, []Diff, map[string]*provider, error) {
	next, err := loadPipeline(a.opts)
	if err != nil {
		// validate's report has every problem, the plugins' included.
		if v := Validate(ctx, a.opts); len(v.Problems) > 0 {
			err = v.Problems
		}
		a.logProblems([]error{err})
		return nil, nil, nil, err
	}
	diffs := diff(a.entries(), next.Enabled())
	var entries []*pipeline.Provider
	for _, d := range diffs {
		if d.Change == Added || d.Change == Reconfigured || d.Change == Replaced {
			entries = append(entries, d.New)
		}
	}
	l := newLauncher(a.opts, next, a.log, a.store.Log, a.run.Dir)
	providers := l.launchAll(ctx, entries, a.opts.Mode)
	if err := a.launchErrors(ctx, providers); err != nil {
		kill(providers)
		return nil, nil, nil, err
	}
	launched := make(map[string]*provider, len(providers))
	for _, p := range providers {
		p.host = a.store.Host(p.Name(), a.gather)
		launched[p.Name()] = p
	}
	return next, diffs, launched, nil
}

// launchErrors logs what went wrong launching or validating providers,
// each problem on a line of its own, and returns it; or ctx's cause when
// the run ended meanwhile.
func (a *Agent) launchErrors(ctx context.Context, providers []*provider) error {
	if ctx.Err() != nil {
		return fmt.Errorf("the run ended during the reload: %w", context.Cause(ctx))
	}
	failed := a.failures(providers)
	if len(failed) == 0 {
		return nil
	}
	a.logProblems(failed)
	return errors.Join(failed...)
}

// logProblems logs every problem of errs, each on a line of its own that
// names file and line.
func (a *Agent) logProblems(errs []error) {
	for _, err := range errs {
		ps := conf.AsProblems(err)
		if len(ps) == 0 {
			a.log.Error("Reload: " + err.Error())
			continue
		}
		for _, pb := range ps {
			a.log.Error("Reload: " + pb.Error())
		}
	}
}

// apply applies the agent's settings of next, then has the lifecycle
// apply the providers' diffs. It returns false when the run ended before
// the providers changed.
func (a *Agent) apply(ctx context.Context, next *pipeline.Pipeline, diffs []Diff, launched map[string]*provider) bool {
	a.applySettings(next)
	running := a.byName()
	inPlace := make(map[string]bool)
	var steps []lifecycle.Step
	shown := make([]string, 0, len(diffs))
	for _, d := range diffs {
		shown = append(shown, d.Name)
		if d.Change == Removed {
			continue
		}
		st := lifecycle.Step{}
		if old := running[d.Name]; old != nil {
			st.Running = old
		}
		switch d.Change {
		case Unchanged:
			running[d.Name].current.Store(d.New) // its shutdown timeout, its line
		case Reconfigured:
			st.Reconfigure = a.reconfigurer(running[d.Name], d.New, inPlace)
			st.New = launched[d.Name]
		default:
			st.New = launched[d.Name]
		}
		steps = append(steps, st)
	}
	a.store.SetProviders(shown)
	applied := a.runner.Apply(ctx, lifecycle.Plan{Steps: steps})
	a.adopt(next, steps, inPlace, applied)
	return applied
}

// adopt makes what a plan's steps left running the agent's providers, and
// next its pipeline, when the plan was applied; otherwise the providers
// stay as they were.
func (a *Agent) adopt(next *pipeline.Pipeline, steps []lifecycle.Step, inPlace map[string]bool, applied bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if applied {
		providers := make([]*provider, 0, len(steps))
		for _, st := range steps {
			p := st.New
			if p == nil || inPlace[p.Name()] {
				p = st.Running
			}
			providers = append(providers, p.(*provider))
		}
		a.providers = providers
		a.pipeline = next
	}
	names := make([]string, len(a.providers))
	for i, p := range a.providers {
		names[i] = p.Name()
	}
	a.store.SetProviders(names)
}

// reconfigurer returns what applies entry's config to p in place, noting
// in inPlace that it did.
func (a *Agent) reconfigurer(p *provider, entry *pipeline.Provider, inPlace map[string]bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		// Like the lifecycle's calls, never cut short by the run's end:
		// the timeout bounds it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reconfigureTimeout)
		defer cancel()
		if err := p.Reconfigure(ctx, a.opts.Config, entry.Config); err != nil {
			return err
		}
		p.current.Store(entry)
		inPlace[entry.Name] = true
		return nil
	}
}

// applySettings applies the agent's settings of next that a reload can:
// the log's level and format, the status file. Those it cannot are
// logged.
func (a *Agent) applySettings(next *pipeline.Pipeline) {
	a.mu.Lock()
	old := a.pipeline.Agent
	a.mu.Unlock()
	now := next.Agent
	if old.LogLevel != now.LogLevel || old.LogFormat != now.LogFormat {
		a.logs.set(now.LogLevel, now.LogFormat)
		a.log.Info("Applied the log settings", "log_level", now.LogLevel, "log_format", now.LogFormat)
	}
	if old.StatusFile != now.StatusFile {
		a.stopStatus()
		a.stopStatus = a.writeStatusFile(now.StatusFile)
		a.log.Info("Applied the status file", "status_file", now.StatusFile)
	}
	a.hooks.replace(a, next.Hooks)
	if old.WatchConfig != now.WatchConfig {
		a.stopWatch()
		a.stopWatch = a.watch(now.WatchConfig)
		a.log.Info("Applied the watch of the pipeline file", "watch_config", now.WatchConfig)
	}
	for _, s := range []struct {
		key     string
		was, is any
	}{
		{"agent.runtime_dir", old.RuntimeDir, now.RuntimeDir},
		{"agent.ping_interval", old.PingInterval, now.PingInterval},
		{"agent.unresponsive_timeout", old.UnresponsiveTimeout, now.UnresponsiveTimeout},
		{"agent.log_file", old.LogFile, now.LogFile},
	} {
		if s.was != s.is {
			a.log.Warn(fmt.Sprintf("Not applied: a change of %s needs a restart of the agent", s.key), "was", s.was, "is", s.is)
		}
	}
}

// entries are the entries of the providers that run, in pipeline order.
func (a *Agent) entries() []*pipeline.Provider {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*pipeline.Provider, len(a.providers))
	for i, p := range a.providers {
		out[i] = p.entry()
	}
	return out
}

// byName returns the providers that run, by name.
func (a *Agent) byName() map[string]*provider {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]*provider, len(a.providers))
	for _, p := range a.providers {
		m[p.Name()] = p
	}
	return m
}

// counts are the log's key/value pairs of how many providers each kind of
// change touched.
func counts(diffs []Diff) []any {
	n := make(map[Change]int)
	for _, d := range diffs {
		n[d.Change]++
	}
	var kv []any
	for c := Unchanged; c <= Removed; c++ {
		kv = append(kv, c.String(), n[c])
	}
	return kv
}

// firstLine is err's first line: the log has the others already.
func firstLine(err error) string {
	msg := err.Error()
	for i := range len(msg) {
		if msg[i] == '\n' {
			return msg[:i] + " ..."
		}
	}
	return msg
}
