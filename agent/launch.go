package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// validateTimeout bounds one plugin's Validate.
const validateTimeout = 30 * time.Second

// loadPipeline reads and validates the pipeline file, with the command
// line's log settings over the file's.
func loadPipeline(opts Options) (*pipeline.Pipeline, error) {
	p, err := pipeline.Load(opts.Config, pipelineOptions(opts))
	if err != nil {
		return nil, err
	}
	override(p, opts)
	return p, nil
}

// override applies the command line's log settings over the file's (and
// its profile's).
func override(p *pipeline.Pipeline, opts Options) {
	if opts.LogLevel != "" {
		p.Agent.LogLevel = opts.LogLevel
	}
	if opts.LogFormat != "" {
		p.Agent.LogFormat = opts.LogFormat
	}
}

// pipelineOptions are how run and validate load the pipeline: the same
// loader, with the same bounds, for both.
func pipelineOptions(opts Options) pipeline.Options {
	names := make([]string, len(opts.Builtins))
	for i, b := range opts.Builtins {
		names[i] = b.Name
	}
	return pipeline.Options{Profile: opts.Profile, DefaultPluginDir: executableDir(), Builtins: names}
}

// startDelay waits a random part of agent.start_jitter; ctx done (a
// signal) ends the wait with ctx's cause.
func (a *Agent) startDelay(ctx context.Context) error {
	jitter := a.pipeline.Agent.StartJitter.Std()
	if jitter <= 0 {
		return nil
	}
	d := rand.N(jitter) //nolint:gosec // G404: a spread of start times, not a secret
	a.log.Info("Delaying the start", "delay", d.Round(time.Millisecond), "start_jitter", jitter)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// launch starts every enabled provider's plugin in parallel and has each
// validate its configuration. A configuration problem or a refused plugin
// (missing, wrong digest) is a configuration error (ExitConfig); a plugin
// that cannot be run is a failure (exit 1). When ctx is done first (a
// signal), the launch stops at once and returns ctx's cause.
func (a *Agent) launch(ctx context.Context) error {
	if err := a.startDelay(ctx); err != nil {
		return err
	}
	l := newLauncher(a.opts, a.pipeline, a.log, a.store.Log, a.run.Dir)
	providers := l.launchAll(ctx, a.pipeline.Enabled(), a.opts.Mode)
	if ctx.Err() != nil {
		kill(providers)
		return context.Cause(ctx)
	}
	if failed := a.failures(providers); len(failed) > 0 {
		kill(providers)
		return &Error{Code: exitCode(failed), Err: errors.Join(failed...)}
	}
	a.providers = providers
	return nil
}

// failures are why providers could not be launched or validated, each
// naming the pipeline file and the provider's line (a configuration
// problem names its own).
func (a *Agent) failures(providers []*provider) []error {
	var failed []error
	for _, p := range providers {
		if p.err == nil {
			continue
		}
		err := p.err
		var problems conf.Problems
		if !errors.As(err, &problems) {
			err = fmt.Errorf("%s:%d: provider %s: %w", a.opts.Config, p.entry().Line, p.entry().Name, err)
		}
		failed = append(failed, err)
	}
	return failed
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

// launcher launches the plugins of a pipeline.
type launcher struct {
	file     string // the pipeline file, which problems name
	builtins []Builtin
	opts     pluginhost.Options
}

// newLauncher returns the launcher of p, loaded with opts: plugin logs go
// to log and sink (if set), sockets below socketDir.
func newLauncher(opts Options, p *pipeline.Pipeline, log hclog.Logger, sink func(name, line string), socketDir string) *launcher {
	return &launcher{
		file:     opts.Config,
		builtins: opts.Builtins,
		opts: pluginhost.Options{
			Logger:    log,
			Env:       []string{pluginpb.EnvLogLevel + "=" + p.Agent.LogLevel},
			LogSink:   sink,
			SocketDir: socketDir,
		},
	}
}

// launchAll launches the entries' plugins in parallel, each validating its
// configuration. It returns a provider per entry, in their order: with
// its process, unless it could not be launched, and with err set when
// something went wrong: Problems for its configuration, or why it could
// not be launched or asked.
func (l *launcher) launchAll(ctx context.Context, entries []*pipeline.Provider, mode sdk.Mode) []*provider {
	providers := make([]*provider, len(entries))
	var wg sync.WaitGroup
	for i, entry := range entries {
		providers[i] = newProvider(entry)
		wg.Go(func() { l.launch(ctx, providers[i], mode) })
	}
	wg.Wait()
	return providers
}

// launch launches p's plugin and has it validate its configuration.
func (l *launcher) launch(ctx context.Context, p *provider, mode sdk.Mode) {
	proc, err := pluginhost.Launch(ctx, l.spec(p.entry()), l.opts)
	if err != nil {
		p.err = err
		return
	}
	p.Process = proc
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	problems, err := proc.Validate(ctx, l.file, p.entry().Config, mode)
	if err != nil {
		p.err = err
		return
	}
	var ps conf.Problems
	for _, pb := range problems {
		ps = append(ps, pb.Conf())
	}
	p.err = ps.Err()
}

// spec is what to launch for entry: its plugin binary, or the agent's own
// executable serving the built-in provider it names.
func (l *launcher) spec(entry *pipeline.Provider) pluginhost.Spec {
	if entry.Builtin == "" {
		return pluginhost.Spec{Name: entry.Name, Path: entry.Path, SHA256: entry.SHA256}
	}
	var env []string
	for _, b := range l.builtins {
		if b.Name == entry.Builtin {
			env = b.Env
		}
	}
	return pluginhost.Spec{Name: entry.Name, Path: self(), Args: []string{PluginCommand, entry.Builtin}, Env: env, SHA256: entry.SHA256}
}

// self is the agent's own executable, as built-in providers are launched
// from it: /proc/self/exe where there is one, which runs the very binary
// the agent runs even when a package upgrade replaced the file since.
func self() string {
	if _, err := os.Stat("/proc/self/exe"); err == nil {
		return "/proc/self/exe"
	}
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

// executableDir is where bare plugin names resolve by default.
func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe)
}
