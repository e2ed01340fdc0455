package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// loaded is a pipeline whose enabled providers are running and validated.
type loaded struct {
	pipeline *pipeline.Pipeline
	plugins  []*pluginhost.Plugin // in pipeline order
}

// kill ends every plugin process.
func (l *loaded) kill() {
	var wg sync.WaitGroup
	for _, p := range l.plugins {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Kill()
		}()
	}
	wg.Wait()
}

// loadError carries the exit code of a failed load.
type loadError struct {
	code int
	err  error
}

func (e *loadError) Error() string { return e.err.Error() }

// loadPipeline reads and validates the pipeline file; problems are
// configuration errors (ExitConfig).
func loadPipeline(f *commonFlags) (*pipeline.Pipeline, error) {
	p, err := pipeline.Load(f.config, pipelineOptions(f))
	if err != nil {
		return nil, &loadError{code: ExitConfig, err: err}
	}
	f.override(p)
	return p, nil
}

// override applies the command line's log settings over the file's (and
// its profile's).
func (f *commonFlags) override(p *pipeline.Pipeline) {
	if f.logLevel != "" {
		p.Agent.LogLevel = f.logLevel
	}
	if f.logFormat != "" {
		p.Agent.LogFormat = f.logFormat
	}
}

// pipelineOptions are how run and validate load the pipeline: the same
// loader, with the same bounds, for both.
func pipelineOptions(f *commonFlags) pipeline.Options {
	return pipeline.Options{Profile: f.profile, DefaultPluginDir: executableDir(), Builtins: f.builtinNames()}
}

// launch starts every enabled plugin of p in parallel and has each
// validate its configuration. A configuration problem or a refused plugin
// (missing, wrong digest) is a configuration error (ExitConfig); a plugin
// that cannot be run is a failure (exit 1). sink, if set, sees every
// plugin log line; sockets go below socketDir. When ctx is done first (a
// signal), the launch stops at once and returns ctx's cause.
func launch(ctx context.Context, f *commonFlags, p *pipeline.Pipeline, mode sdk.Mode, log hclog.Logger,
	sink func(name, line string), socketDir string) (*loaded, error) {
	enabled := p.Enabled()
	l := &loaded{pipeline: p}
	var errs []error
	l.plugins, errs = launchAll(ctx, f.config, p.Agent.LogLevel, enabled, mode, log, sink, socketDir, f.builtinEnv)
	if ctx.Err() != nil {
		l.kill()
		return nil, context.Cause(ctx)
	}
	var failed []error
	for i, err := range errs {
		if err == nil {
			continue
		}
		var problems conf.Problems
		if !errors.As(err, &problems) {
			err = fmt.Errorf("%s:%d: provider %s: %w", f.config, enabled[i].Line, enabled[i].Name, err)
		}
		failed = append(failed, err)
	}
	if len(failed) > 0 {
		l.kill()
		return nil, &loadError{code: exitCode(failed), err: errors.Join(failed...)}
	}
	return l, nil
}

// exitCode is the exit code of a load that failed with errs: a
// configuration error when every one is a configuration problem or a
// refused plugin.
func exitCode(errs []error) int {
	for _, err := range errs {
		var checksum *pluginhost.ChecksumError
		var problems conf.Problems
		if !errors.As(err, &checksum) && !errors.As(err, &problems) {
			return ExitFailed
		}
	}
	return ExitConfig
}

// launchAll launches providers in parallel, each validating its
// configuration from file. plugins[i] is providers[i]'s plugin, nil when
// it could not be launched; errs[i] is what went wrong with it: Problems
// for its configuration, or why it could not be launched or asked.
func launchAll(ctx context.Context, file, logLevel string, providers []*pipeline.Provider, mode sdk.Mode, log hclog.Logger,
	sink func(name, line string), socketDir string, builtinEnv func(string) []string) (plugins []*pluginhost.Plugin, errs []error) {
	plugins = make([]*pluginhost.Plugin, len(providers))
	errs = make([]error, len(providers))
	env := []string{pluginpb.EnvLogLevel + "=" + logLevel}
	var wg sync.WaitGroup
	for i, pr := range providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plug, err := pluginhost.Launch(ctx, spec(pr, builtinEnv),
				pluginhost.Options{Logger: log, Env: env, LogSink: sink, SocketDir: socketDir})
			if err != nil {
				errs[i] = err
				return
			}
			plugins[i] = plug
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			problems, err := plug.Validate(ctx, file, pr.Config, mode)
			if err != nil {
				errs[i] = err
				return
			}
			var ps conf.Problems
			for _, pb := range problems {
				ps = append(ps, pb.Conf())
			}
			if err := ps.Err(); err != nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return plugins, errs
}

// spec is what to launch for pr: its plugin binary, or the agent's own
// executable serving the built-in provider it names.
func spec(pr *pipeline.Provider, builtinEnv func(string) []string) pluginhost.Spec {
	if pr.Builtin != "" {
		return pluginhost.Spec{Name: pr.Name, Path: self(), Args: []string{PluginCommand, pr.Builtin}, Env: builtinEnv(pr.Builtin), SHA256: pr.SHA256}
	}
	return pluginhost.Spec{Name: pr.Name, Path: pr.Path, SHA256: pr.SHA256}
}

// newLogger builds the agent's logger from the pipeline's settings.
func newLogger(w io.Writer, p *pipeline.Pipeline) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "sia-agent",
		Level:      hclog.LevelFromString(p.Agent.LogLevel),
		JSONFormat: p.Agent.LogFormat == "json",
		Output:     w,
		Color:      hclog.ColorOff,
	})
}

func exitf(w io.Writer, err error) {
	fmt.Fprintln(w, err)
	_ = os.Stderr.Sync()
}
