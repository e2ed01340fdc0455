package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/agent/rundir"
	"github.com/sia-agent/sia-agent/agent/status"
	"github.com/sia-agent/sia-agent/agent/telemetry"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

func runCommand(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal, builtins []Builtin) int {
	f, code := parseFlags("run", args, stdout, stderr, true, builtins)
	if f == nil {
		return code
	}
	rules, err := fault.FromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "sia-agent: %v\n", err)
		return ExitConfig
	}
	mode := sdk.Mode(f.mode)
	p, err := loadPipeline(f)
	if err != nil {
		exitf(stderr, err)
		return ExitConfig
	}
	log := newLogger(stderr, p)
	if fault.Ignored() {
		log.Warn("Ignoring " + fault.Env + ": this build has no fault points (they are compiled into test builds only)")
	}

	names := make([]string, 0, len(p.Providers))
	for _, pr := range p.Enabled() {
		names = append(names, pr.Name)
	}
	store := status.New(Version, string(mode), p.Profile, names)
	run, err := openRunDir(p, log)
	if err != nil {
		log.Error("Cannot use the runtime directory", "error", err)
		return ExitFailed
	}
	defer func() {
		if err := run.Close(); err != nil {
			log.Warn("Could not remove the run's directory", "dir", run.Dir, "error", err)
		}
	}()

	l, code := launchUntilSignal(f, p, mode, log, store, run.Dir, sigs, stderr)
	if l == nil {
		return code
	}
	for _, n := range renameNotes(p) {
		log.Warn(n)
	}
	log.Info("Loaded pipeline", "config", p.File, "profile", p.Profile, "mode", mode, "providers", len(l.plugins))

	if p.Agent.StatusFile != "" {
		if err := sdk.RemoveAtomicTemps(p.Agent.StatusFile); err != nil {
			log.Warn("Could not remove the temporary files an earlier run left next to the status file", "error", err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			store.WriteFile(ctx, p.Agent.StatusFile, log)
		}()
		defer func() { stop(); <-done }()
	}

	gather := agentGatherer(store, l.plugins, log)
	enabled := p.Enabled()
	units := make([]lifecycle.Unit, len(l.plugins))
	timeouts := make(map[string]time.Duration, len(enabled))
	for i, plug := range l.plugins {
		units[i] = &unit{Plugin: plug, host: store.Host(plug.Name, gather)}
		timeouts[plug.Name] = enabled[i].ShutdownTimeout
	}
	notify := notifyPhase(log)
	signals := &fault.Signals{}
	r := &lifecycle.Runner{
		Logger:          log,
		Units:           units,
		Mode:            mode,
		ShutdownTimeout: func(name string) time.Duration { return timeouts[name] },
		Faults:          fault.NewPoints("agent", rules, signals.Raiser(os.Getpid)),
		Signals:         signals,
		OnState: func(name string, s lifecycle.State, err error) {
			store.SetState(name, string(s), err)
		},
		OnPhase: func(phase string) {
			store.SetPhase(phase)
			notify(phase)
		},
		PingInterval:        p.Agent.PingInterval.Std(),
		UnresponsiveTimeout: p.Agent.UnresponsiveTimeout.Std(),
		OnResponsive:        store.SetResponsive,
	}
	return r.Run(sigs)
}

// openRunDir opens this run's directory in the pipeline's runtime
// directory, after removing what runs killed without cleaning up left.
func openRunDir(p *pipeline.Pipeline, log hclog.Logger) (*rundir.Run, error) {
	base := p.Agent.RuntimeDir
	if base == "" {
		base = rundir.Default()
	}
	run, removed, err := rundir.Open(base)
	if len(removed) > 0 {
		log.Info("Removed what earlier runs of the agent left in the runtime directory", "removed", removed)
	}
	return run, err
}

// launchUntilSignal launches the pipeline's plugins. A signal that comes
// meanwhile stops the launch at once: the plugins already running are
// ended and the agent exits 0. It returns the loaded pipeline, or nil and
// the exit code.
func launchUntilSignal(f *commonFlags, p *pipeline.Pipeline, mode sdk.Mode, log hclog.Logger, store *status.Store,
	socketDir string, sigs <-chan os.Signal, stderr io.Writer) (*loaded, int) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	launched := make(chan struct{})
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		for {
			select {
			case <-launched:
				return
			case sig := <-sigs:
				log.Info("Received signal: " + sig.String())
				if sig == syscall.SIGHUP {
					log.Warn("Ignoring SIGHUP: reloading the pipeline is not supported; restart the agent to apply a changed pipeline")
					continue
				}
				cancel(&lifecycle.SignalError{Signal: sig})
				return
			}
		}
	}()
	l, err := launch(ctx, f, p, mode, log, store.Log, socketDir)
	close(launched)
	<-watching
	var sig *lifecycle.SignalError
	switch {
	case errors.As(context.Cause(ctx), &sig):
		if l != nil {
			l.kill()
		}
		log.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", sig))
		log.Info("Stopped loading the pipeline")
		log.Info("Shutdown completed!")
		return nil, ExitOK
	case err != nil:
		var le *loadError
		errors.As(err, &le)
		log.Error("Loading the pipeline failed", "config", f.config)
		exitf(stderr, err)
		return nil, le.code
	}
	return l, ExitOK
}

// agentGatherer returns what the Host service's Gather serves: the agent's
// own metrics (its process, build, status) and every plugin's.
func agentGatherer(store *status.Store, plugins []*pluginhost.Plugin, log hclog.Logger) status.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(store.Collector())
	own := prometheus.WrapRegistererWith(prometheus.Labels{telemetry.ProviderLabel: telemetry.AgentName}, reg)
	own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sia_build_info",
		Help: "The agent's version and Go version (always 1).",
	}, []string{"version", "goversion"})
	build.WithLabelValues(Version, goVersion()).Set(1)
	reg.MustRegister(build)

	sources := make([]telemetry.Source, len(plugins))
	for i, p := range plugins {
		sources[i] = telemetry.Source{Name: p.Name, Gather: p.Gather}
	}
	return func(ctx context.Context) ([][]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		families, err := telemetry.Gather(ctx, reg, sources)
		if err != nil {
			// A scrape with one process missing beats no scrape.
			log.Warn("gathering metrics", "error", err)
		}
		return families, nil
	}
}

// unit adapts a plugin to the lifecycle runner.
type unit struct {
	*pluginhost.Plugin
	host pluginpb.HostServer
}

func (u *unit) Name() string { return u.Plugin.Name }

func (u *unit) Init(ctx context.Context) error { return u.Plugin.Init(ctx, u.host) }

func (u *unit) Cancel(ctx context.Context, c lifecycle.Cancellation) error {
	req := &pluginpb.CancelRequest{Init: c.Init, Run: c.Run}
	if c.Cause != nil {
		req.Cause = c.Cause.Error()
	}
	if c.Signal != nil {
		req.Signal = c.Signal.String()
	}
	return u.Plugin.Cancel(ctx, req)
}
