package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sia-agent/sia-agent/agent"
	"github.com/sia-agent/sia-agent/sdk"
)

// runCommand loads the pipeline and runs it until a signal or a failure.
func runCommand(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal, builtins []agent.Builtin) int {
	f, code := parseFlags("run", args, stdout, stderr, true, builtins)
	if f == nil {
		return code
	}
	a, err := agent.Load(context.Background(), f.options(stderr, sigs))
	if err != nil {
		var e *agent.Error
		if !errors.As(err, &e) || !e.Logged {
			exitf(stderr, err)
		}
		return agent.ExitCode(err)
	}
	defer a.Close()
	return a.Run(sigs)
}

// validateCommand has every enabled provider validate its configuration,
// starting nothing, and prints every problem as file:line: key: message,
// and then how many there are; or, for a valid pipeline, its providers.
func validateCommand(args []string, stdout, stderr io.Writer, builtins []agent.Builtin) int {
	f, code := parseFlags("validate", args, stdout, stderr, false, builtins)
	if f == nil {
		return code
	}
	v := agent.Validate(context.Background(), f.options(stderr, nil))
	switch {
	case v.Err != nil:
		fmt.Fprintf(stderr, "%v\n%s\n", v.Err, summary(max(len(v.Problems), 1), f))
	case v.Code != ExitOK:
		for _, pb := range v.Problems {
			fmt.Fprintln(stderr, pb)
		}
		fmt.Fprintln(stderr, summary(len(v.Problems), f))
	default:
		printProviders(stdout, f, v)
		for _, n := range v.Notes {
			fmt.Fprintln(stderr, "note: "+n)
		}
	}
	return v.Code
}

// printProviders prints the providers table of a valid pipeline.
func printProviders(w io.Writer, f *commonFlags, v *agent.Validation) {
	p := v.Pipeline
	fmt.Fprintf(w, "%s is valid", f.config)
	if p.Profile != "" {
		fmt.Fprintf(w, " with profile %s", p.Profile)
	}
	fmt.Fprintf(w, ": %d of %d providers enabled\n\n", v.Enabled, len(p.Providers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tPROVIDER\tSTATE\tSHUTDOWN\tPLUGIN")
	var budget time.Duration
	for i, pr := range p.Providers {
		if !pr.Enabled {
			fmt.Fprintf(tw, "  %d\t%s\tdisabled\t-\t%s\n", i+1, pr.Name, pr.Plugin)
			continue
		}
		budget += pr.ShutdownTimeout
		plugin := pr.Path
		if pr.Builtin != "" {
			plugin = pr.Builtin + " (built in)"
		}
		if pr.SHA256 != "" {
			plugin += " (sha256 pinned)"
		}
		fmt.Fprintf(tw, "  %d\t%s\tenabled\t%s\t%s\n", i+1, pr.Name, sdk.Duration(pr.ShutdownTimeout), plugin)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nProviders start in this order and shut down in reverse. Shutdown takes at most %s\n", sdk.Duration(budget))
	fmt.Fprintln(w, "(the enabled providers' shutdown timeouts added up): keep systemd's TimeoutStopSec and")
	fmt.Fprintln(w, "a pod's terminationGracePeriodSeconds above it.")
}

// summary is the last line of a failed validation.
func summary(n int, f *commonFlags) string {
	s := fmt.Sprintf("%s in %s", plural(n, "problem"), f.config)
	if f.profile != "" {
		s += " with profile " + f.profile
	}
	return s
}

func exitf(w io.Writer, err error) {
	fmt.Fprintln(w, err)
	_ = os.Stderr.Sync()
}
