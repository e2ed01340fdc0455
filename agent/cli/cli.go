// Package cli is the sia-agent command line: run, validate, convert and version.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sia-agent/sia-agent/agent"
	"github.com/sia-agent/sia-agent/sdk"
)

// Exit codes of sia-agent. Usage and configuration errors have the
// sysexits(3) codes, which no crash exits with: a Go panic or SIGQUIT exits
// 2, and a service manager must restart a crashed agent but not one whose
// configuration a restart cannot fix.
const (
	ExitOK     = agent.ExitOK     // normal shutdown after a signal
	ExitFailed = agent.ExitFailed // start failed, a provider crashed, or init failed
	ExitUsage  = 64               // EX_USAGE: a bad command line
	ExitConfig = agent.ExitConfig // EX_CONFIG: a pipeline (or env file) that cannot be used
)

// Version and Commit are set at build time with -ldflags
// "-X .../agent/cli.Version=... -X .../agent/cli.Commit=...".
var (
	Version = "dev"
	Commit  = "unknown"
)

// PluginCommand is the hidden command the agent runs its own executable
// with to serve one of the providers built into it, as that provider's
// plugin process: `sia-agent internal-plugin cert`.
const PluginCommand = agent.PluginCommand

// Main runs the command line and returns the exit code. sigs must already
// be receiving SIGINT, SIGTERM and SIGHUP: main installs that first of all.
// builtins are the providers the executable serves with PluginCommand;
// convert is what the convert command runs.
func Main(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal, builtins []agent.Builtin, convert Converter) int {
	if len(args) < 1 {
		usage(stderr)
		return ExitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stdout, stderr, sigs, builtins)
	case "validate":
		return validateCommand(args[1:], stdout, stderr, builtins)
	case "convert":
		return Convert(args[1:], os.Stdin, stdout, stderr, convert)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sia-agent %s (commit %s, %s, %s/%s)\n", Version, Commit, goVersion(), runtime.GOOS, runtime.GOARCH)
		return ExitOK
	case "help", "-h", "--help":
		usage(stdout)
		return ExitOK
	}
	fmt.Fprintf(stderr, "sia-agent: unknown command %q\n\n", args[0])
	usage(stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  sia-agent run --config FILE [--profile NAME] [--mode refresh|init] [--log-level LEVEL] [--log-format FORMAT]
  sia-agent validate --config FILE [--profile NAME]
  sia-agent convert [--env-file FILE] [--allow-unsupported] > pipeline.yaml
  sia-agent version

--config defaults to $`+EnvConfig+`. sia-agent COMMAND --help shows a
command's flags.

Exit codes: 0 normal shutdown, 1 start/init failed or a provider crashed,
64 usage error, 78 configuration error.
`)
}

// EnvConfig names the pipeline file when --config is not given, so that
// an image or a unit can set it once for every command.
const EnvConfig = "SIA_AGENT_CONFIG"

type commonFlags struct {
	config    string
	profile   string
	mode      string
	logLevel  string          // overrides agent.log_level when set
	logFormat string          // overrides agent.log_format when set
	builtins  []agent.Builtin // the providers built into the executable
}

// options are the agent's options the flags say: its log goes to log;
// sigs, if set, are watched while it launches the plugins.
func (f *commonFlags) options(log io.Writer, sigs <-chan os.Signal) agent.Options {
	return agent.Options{
		Config:    f.config,
		Profile:   f.profile,
		Mode:      sdk.Mode(f.mode),
		LogLevel:  f.logLevel,
		LogFormat: f.logFormat,
		Builtins:  f.builtins,
		Version:   Version,
		Log:       log,
		Signals:   sigs,
	}
}

// commandHelp is what each command's --help says above its flags.
var commandHelp = map[string]string{
	"run": `Usage: sia-agent run --config FILE [--profile NAME] [--mode refresh|init]

Runs the pipeline: launches every enabled provider, initializes and starts
them in order, and shuts them down in reverse order on SIGINT or SIGTERM.
--mode init runs the init phase only and exits, as an init container.
Exit 0 after a signal, 1 when a start or init failed or a provider crashed,
64 for a bad command line, 78 for a pipeline that cannot be used.
`,
	"validate": `Usage: sia-agent validate --config FILE [--profile NAME]

Starts nothing: checks the file and has every enabled provider check its
config, then lists every problem as file:line. Exit 78 when there is one.
`,
}

// parseFlags parses the flags of run (withMode) or validate. It returns
// nil and the exit code when the command is not to run: 0 after --help
// (printed to stdout), ExitUsage after a bad command line.
func parseFlags(name string, args []string, stdout, stderr io.Writer, withMode bool, builtins []agent.Builtin) (*commonFlags, int) {
	fs := flag.NewFlagSet("sia-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := commonFlags{builtins: builtins}
	fs.StringVar(&f.config, "config", os.Getenv(EnvConfig), "pipeline `file` (YAML); default $"+EnvConfig)
	fs.StringVar(&f.profile, "profile", "", "profile `name` to apply from the file's profiles")
	if withMode {
		fs.StringVar(&f.mode, "mode", "refresh", "`refresh|init`: run as a daemon, or fetch once and exit")
	}
	fs.StringVar(&f.logLevel, "log-level", "", "`level` of the agent's and its plugins' logs, trace|debug|info|warn|error, "+
		"instead of the file's agent.log_level")
	fs.StringVar(&f.logFormat, "log-format", "", "`format` of the logs, text|json, instead of the file's agent.log_format")
	if code, ok := parse(fs, args, stdout, stderr, commandHelp[name]); !ok {
		return nil, code
	}
	if err := f.check(fs.Args(), withMode); err != nil {
		fmt.Fprintf(stderr, "sia-agent %s: %v\n", name, err)
		return nil, ExitUsage
	}
	f.logLevel = strings.ToLower(f.logLevel)
	return &f, ExitOK
}

// parse parses args with fs. After --help it prints help and fs's flags
// to stdout and returns 0; after a bad flag, flag's message and them to
// stderr and ExitUsage; ok is whether the command is to run.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, help string) (code int, ok bool) {
	fs.Usage = func() {} // printed below, to the right stream
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, help, fs)
		return ExitOK, false
	case err != nil:
		printUsage(stderr, help, fs)
		return ExitUsage, false
	}
	return ExitOK, true
}

// check reports what is wrong with the command line.
func (f *commonFlags) check(rest []string, withMode bool) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	case f.config == "":
		return fmt.Errorf("--config is required (or set $%s)", EnvConfig)
	case withMode && f.mode != "refresh" && f.mode != "init":
		return fmt.Errorf("--mode must be refresh or init, not %q", f.mode)
	}
	switch strings.ToLower(f.logLevel) {
	case "", "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be trace, debug, info, warn or error, not %q", f.logLevel)
	}
	if f.logFormat != "" && f.logFormat != "text" && f.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
	}
	return nil
}

// printUsage writes a command's help and its flags, --flag style, with
// their defaults.
func printUsage(w io.Writer, help string, fs *flag.FlagSet) {
	fmt.Fprint(w, help)
	if help != "" {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Flags:")
	fs.VisitAll(func(fl *flag.Flag) {
		arg, text := flag.UnquoteUsage(fl)
		if arg == "bool" {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s %s\n        %s", fl.Name, arg, text)
		if fl.DefValue != "" && fl.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", fl.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown Go"
}
