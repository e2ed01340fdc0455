package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
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
		return ExitUsage
	}
	mode := sdk.Mode(f.mode)
	l, log, err := load(f, mode, func(p *pipeline.Pipeline) hclog.Logger { return newLogger(stderr, p) })
	if err != nil {
		var le *loadError
		errors.As(err, &le)
		if log != nil {
			log.Error("Loading the pipeline failed", "config", f.config)
		}
		exitf(stderr, err)
		return le.code
	}
	log.Info("Loaded pipeline", "config", l.pipeline.File, "profile", l.pipeline.Profile, "mode", mode, "providers", len(l.plugins))

	enabled := l.pipeline.Enabled()
	units := make([]lifecycle.Unit, len(l.plugins))
	timeouts := make(map[string]time.Duration, len(enabled))
	for i, p := range l.plugins {
		units[i] = &unit{Plugin: p}
		timeouts[p.Name] = enabled[i].ShutdownTimeout
	}
	signals := &fault.Signals{}
	r := &lifecycle.Runner{
		Logger:          log,
		Units:           units,
		Mode:            mode,
		ShutdownTimeout: func(name string) time.Duration { return timeouts[name] },
		Faults:          fault.NewPoints("agent", rules, signals.Raiser(os.Getpid)),
		Signals:         signals,
	}
	return r.Run(sigs)
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
