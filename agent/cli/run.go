package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/agent/status"
	"github.com/sia-agent/sia-agent/agent/telemetry"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

func runCommand(args []string, stderr io.Writer, sigs <-chan os.Signal) int {
	f, ok := parseFlags("run", args, stderr, true)
	if !ok {
		return ExitUsage
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

	names := make([]string, 0, len(p.Providers))
	for _, pr := range p.Enabled() {
		names = append(names, pr.Name)
	}
	store := status.New(Version, string(mode), p.Profile, names)
	l, err := launch(f, p, mode, log, store.Log)
	if err != nil {
		var le *loadError
		errors.As(err, &le)
		log.Error("Loading the pipeline failed", "config", f.config)
		exitf(stderr, err)
		return le.code
	}
	log.Info("Loaded pipeline", "config", p.File, "profile", p.Profile, "mode", mode, "providers", len(l.plugins))

	if p.Agent.StatusFile != "" {
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
		OnPhase: store.SetPhase,
	}
	return r.Run(sigs)
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
