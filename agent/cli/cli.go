// Package cli is the sia-agent command line: run, validate, convert and version.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// Exit codes of sia-agent. Usage and configuration errors have the
// sysexits(3) codes, which no crash exits with: a Go panic or SIGQUIT exits
// 2, and a service manager must restart a crashed agent but not one whose
// configuration a restart cannot fix.
const (
	ExitOK     = 0  // normal shutdown after a signal
	ExitFailed = 1  // start failed, a provider crashed, or init failed
	ExitUsage  = 64 // EX_USAGE: a bad command line
	ExitConfig = 78 // EX_CONFIG: a pipeline (or env file) that cannot be used
)

// Version is set at build time with -ldflags "-X .../agent/cli.Version=...".
var Version = "dev"

// PluginCommand is the hidden command the agent runs its own executable
// with to serve one of the providers built into it, as that provider's
// plugin process: `sia-agent internal-plugin cert`.
const PluginCommand = "internal-plugin"

// Main runs the command line and returns the exit code. sigs must already
// be receiving SIGINT, SIGTERM and SIGHUP: main installs that first of all.
// builtins are the providers the executable serves with PluginCommand.
func Main(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal, builtins []Builtin) int {
	if len(args) < 1 {
		usage(stderr)
		return ExitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stderr, sigs, builtins)
	case "validate":
		return validateCommand(args[1:], stdout, stderr, builtins)
	case "convert":
		return convertCommand(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sia-agent %s (%s)\n", Version, goVersion())
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
  sia-agent run --config FILE [--profile NAME] [--mode refresh|init]
  sia-agent validate --config FILE [--profile NAME]
  sia-agent convert [--env-file FILE] [--allow-unsupported] > pipeline.yaml
  sia-agent version

Exit codes: 0 normal shutdown, 1 start/init failed or a provider crashed,
64 usage error, 78 configuration error.
`)
}

type commonFlags struct {
	config   string
	profile  string
	mode     string
	builtins []Builtin // the providers built into the executable
}

// Builtin is a provider the executable serves itself, and what its plugin
// process needs in its environment.
type Builtin struct {
	Name string
	Env  []string
}

// names returns the built-in providers' names.
func (f *commonFlags) builtinNames() []string {
	names := make([]string, len(f.builtins))
	for i, b := range f.builtins {
		names[i] = b.Name
	}
	return names
}

// builtinEnv is what the named built-in provider's process needs in its
// environment.
func (f *commonFlags) builtinEnv(name string) []string {
	for _, b := range f.builtins {
		if b.Name == name {
			return b.Env
		}
	}
	return nil
}

func parseFlags(name string, args []string, stderr io.Writer, withMode bool, builtins []Builtin) (*commonFlags, bool) {
	fs := flag.NewFlagSet("sia-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := commonFlags{builtins: builtins}
	fs.StringVar(&f.config, "config", "", "pipeline `file` (YAML)")
	fs.StringVar(&f.profile, "profile", "", "profile `name` to apply from the file's profiles")
	if withMode {
		fs.StringVar(&f.mode, "mode", "refresh", "refresh (daemon) or init (fetch once and exit)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sia-agent %s: unexpected arguments: %s\n", name, strings.Join(fs.Args(), " "))
		return nil, false
	}
	if f.config == "" {
		fmt.Fprintf(stderr, "sia-agent %s: --config is required\n", name)
		return nil, false
	}
	if withMode && f.mode != "refresh" && f.mode != "init" {
		fmt.Fprintf(stderr, "sia-agent %s: --mode must be refresh or init, not %q\n", name, f.mode)
		return nil, false
	}
	return &f, true
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

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown Go"
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
