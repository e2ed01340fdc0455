// Package agent is sia-agent assembled: the providers of a pipeline
// launched as plugin processes and run through the lifecycle, with the
// status report and the metrics they share. The command line (package
// cli) parses flags and prints; everything between the two is here.
//
// A provider is one entry of the pipeline and the plugin process that
// serves it. pipeline.Provider is its entry as configured,
// pluginhost.Process its process and the protocol to it,
// lifecycle.Provider what the lifecycle drives and telemetry.Provider
// what metrics are gathered from; this package's provider joins them, one
// record per provider. sdk.Provider is the other end: what a plugin
// implements. lifecycle.State is where a provider is, lifecycle.Phase
// where the agent is, and lifecycle.ExitError says that a provider's
// process died.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/agent/rundir"
	"github.com/sia-agent/sia-agent/agent/status"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

// Exit codes of sia-agent. Configuration errors have the sysexits(3)
// code, which no crash exits with: a Go panic or SIGQUIT exits 2, and a
// service manager must restart a crashed agent but not one whose
// configuration a restart cannot fix.
const (
	ExitOK     = 0  // normal shutdown after a signal
	ExitFailed = 1  // start failed, a provider crashed, or init failed
	ExitConfig = 78 // EX_CONFIG: a pipeline (or env file) that cannot be used
)

// PluginCommand is the hidden command the agent runs its own executable
// with to serve one of the providers built into it, as that provider's
// plugin process: `sia-agent internal-plugin cert`.
const PluginCommand = "internal-plugin"

// Builtin is a provider the executable serves itself, and what its plugin
// process needs in its environment.
type Builtin struct {
	Name string
	Env  []string
}

// Options say which pipeline to load and how.
type Options struct {
	Config  string   // the pipeline file
	Profile string   // the profile to apply; "" for none
	Mode    sdk.Mode // refresh or init; Validate ignores it
	// LogLevel and LogFormat, when set, override the file's (and its
	// profile's) agent.log_level and agent.log_format.
	LogLevel, LogFormat string
	Builtins            []Builtin // the providers built into the executable
	Version             string    // the agent's, for the status report and sia_build_info
	// Log is where the agent's log goes: its standard error.
	Log io.Writer
	// Signals, if set, are watched while Load launches the plugins: SIGINT
	// or SIGTERM stops the launch at once; SIGHUP is logged and ignored.
	Signals <-chan os.Signal
}

// Error is why Load failed, and the exit code it makes.
type Error struct {
	Code int
	Err  error
	// Logged says that the agent's log already tells it, and there is
	// nothing to print: a signal that stopped the launch, an unusable
	// runtime directory.
	Logged bool
}

// Error returns Err's message.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Agent is a loaded pipeline: every enabled provider's plugin is running
// and has validated its configuration.
type Agent struct {
	opts   Options
	log    hclog.Logger
	logs   *agentLog // log, whose settings a reload changes
	faults fault.Rules
	store  *status.Store
	run    *rundir.Run
	ran    bool // Run ran, and ended every process
	// hangup says that a SIGHUP came while Load launched the plugins.
	hangup bool

	// Set by Run, and by a reload (see reload.go):
	runner     *lifecycle.Runner
	gather     status.Gatherer
	stopStatus func() // stops writing the status file
	stopWatch  func() // stops watching the pipeline file
	changed    chan struct{}
	hooks      *runningHooks

	mu        sync.Mutex
	pipeline  *pipeline.Pipeline
	providers []*provider        // the enabled ones, in pipeline order
	logFile   *lumberjack.Logger // agent.log_file; nil for none
}

// Load reads the pipeline, opens the runtime directory, then launches
// every enabled provider's plugin in parallel and has each validate its
// configuration. When ctx is done or a signal comes first, the launch
// stops at once and the plugins already running are ended. A failed Load
// returns an *Error.
func Load(ctx context.Context, opts Options) (*Agent, error) {
	rules, err := fault.FromEnv()
	if err != nil {
		return nil, &Error{Code: ExitConfig, Err: fmt.Errorf("sia-agent: %w", err)}
	}
	p, err := loadPipeline(opts)
	if err != nil {
		return nil, &Error{Code: ExitConfig, Err: err}
	}
	logFile, err := openLogFile(p)
	if err != nil {
		return nil, &Error{Code: ExitConfig, Err: err}
	}
	logs := newLogger(logOutput(opts.Log, logFile), p.Agent.LogLevel, p.Agent.LogFormat)
	a := &Agent{opts: opts, pipeline: p, log: logs, logs: logs, faults: rules, logFile: logFile}
	if fault.Ignored() {
		a.log.Warn("Ignoring " + fault.Env + ": this build has no fault points (they are compiled into test builds only)")
	}
	names := make([]string, 0, len(p.Providers))
	for _, pr := range p.Enabled() {
		names = append(names, pr.Name)
	}
	a.store = status.New(opts.Version, opts.Mode, p.Profile, names)
	if a.run, err = openRunDir(p, a.log); err != nil {
		a.log.Error("Cannot use the runtime directory", "error", err)
		return nil, &Error{Code: ExitFailed, Err: err, Logged: true}
	}
	if err := a.launchUntilSignal(ctx); err != nil {
		a.removeRunDir()
		return nil, err
	}
	for _, n := range renameNotes(p) {
		a.log.Warn(n)
	}
	a.log.Info("Loaded pipeline", "config", p.File, "profile", p.Profile, "mode", opts.Mode, "providers", len(a.providers))
	return a, nil
}

// Close ends every plugin process Run did not end and removes the run's
// directory.
func (a *Agent) Close() {
	if !a.ran {
		kill(a.providers)
	}
	a.removeRunDir()
	if a.logFile != nil {
		_ = a.logFile.Close() // written through at every line
	}
}

func (a *Agent) removeRunDir() {
	if err := a.run.Close(); err != nil {
		a.log.Warn("Could not remove the run's directory", "dir", a.run.Dir, "error", err)
	}
}

// Run runs the lifecycle to its end and returns the exit code. sigs
// delivers SIGINT, SIGTERM and SIGHUP.
func (a *Agent) Run(sigs <-chan os.Signal) int {
	a.ran = true
	a.stopStatus = a.writeStatusFile(a.pipeline.Agent.StatusFile)
	a.changed = make(chan struct{}, 1)
	a.stopWatch = a.watch(a.pipeline.Agent.WatchConfig)
	defer func() {
		a.stopWatch()
		a.stopStatus()
	}()
	a.store.LogReadiness(a.log)
	a.hooks = a.startHooks()
	defer stopHooks(a.hooks) // init mode, or a run that never reached shutdown
	a.gather = a.gatherer(a.hooks)
	providers := make([]lifecycle.Provider, len(a.providers))
	for i, p := range a.providers {
		p.host = a.store.Host(p.Name(), a.gather)
		providers[i] = p
	}
	notify := notifyPhase(a.log)
	signals := &fault.Signals{}
	r := &lifecycle.Runner{
		Logger:    a.log,
		Providers: providers,
		Mode:      a.opts.Mode,
		Faults:    fault.NewPoints("agent", a.faults, signals.Raiser(os.Getpid)),
		Signals:   signals,
		OnState:   a.store.SetState,
		OnPhase: func(phase lifecycle.Phase) {
			if phase == lifecycle.PhaseShutdown {
				stopHooks(a.hooks)
			}
			a.store.SetPhase(phase)
			notify(phase)
		},
		PingInterval:        a.pipeline.Agent.PingInterval.Std(),
		UnresponsiveTimeout: a.pipeline.Agent.UnresponsiveTimeout.Std(),
		OnResponsive:        a.store.SetResponsive,
		Reload:              a.reload,
		ReloadPending:       a.hangup,
		Requests:            a.changed,
	}
	a.runner = r
	return r.Run(sigs)
}

// writeStatusFile keeps the status file, when file is set, until the
// returned function is called.
func (a *Agent) writeStatusFile(file string) (stop func()) {
	if file == "" {
		return func() {}
	}
	if err := sdk.RemoveAtomicTemps(file); err != nil {
		a.log.Warn("Could not remove the temporary files an earlier run left next to the status file", "error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.store.WriteFile(ctx, file, a.log) })
	return func() { cancel(); wg.Wait() }
}

// watch watches the pipeline file, when on says so, until the returned
// function is called.
func (a *Agent) watch(on bool) (stop func()) {
	if !on {
		return func() {}
	}
	return watchFile(a.opts.Config, a.changed)
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
// meanwhile, or ctx done, stops the launch at once: the plugins already
// running are ended, and the error's code is 0.
func (a *Agent) launchUntilSignal(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	launched := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { a.watchSignals(launched, cancel) })
	err := a.launch(ctx)
	close(launched)
	wg.Wait()
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		a.log.Info(fmt.Sprintf("Initiating shutdown by cause: %v ...", cause))
		a.log.Info("Stopped loading the pipeline")
		a.log.Info("Shutdown completed!")
		return &Error{Code: ExitOK, Err: cause, Logged: true}
	}
	if err != nil {
		a.log.Error("Loading the pipeline failed", "config", a.opts.Config)
	}
	return err
}

// watchSignals cancels the launch on SIGINT or SIGTERM until launched is
// closed.
func (a *Agent) watchSignals(launched <-chan struct{}, cancel context.CancelCauseFunc) {
	for {
		select {
		case <-launched:
			return
		case sig := <-a.opts.Signals:
			a.log.Info("Received signal: " + sig.String())
			if sig == syscall.SIGHUP {
				a.log.Info("Reloading once every provider started")
				a.hangup = true
				continue
			}
			cancel(&lifecycle.SignalError{Signal: sig})
			return
		}
	}
}

// ExitCode is the exit code of a failed Load.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}
