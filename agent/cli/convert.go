package cli

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Converter is what `sia-agent convert` runs: it turns k8s-athenz-sia's
// environment variables into a pipeline (package siaenv). The command
// composes it in, so that the core does not depend on the providers'
// config types. reportUnknown reports the variables that are not
// k8s-athenz-sia's, as an env file's should be.
type Converter func(env map[string]string, reportUnknown bool) Conversion

// Conversion is a converted environment.
type Conversion struct {
	Pipeline []byte
	Findings []Finding // in the order of their effect on the pipeline
}

// Finding is what the conversion says about one variable.
type Finding struct {
	Var         string
	Text        string // as printed, e.g. "note: MODE: ..."
	Invalid     bool   // k8s-athenz-sia would have refused the value
	Unsupported bool   // no equivalent: the behaviour would change
}

// Convert is `sia-agent convert`: it prints the pipeline that does what
// k8s-athenz-sia did with the environment variables of the process, or
// of an env file (stdin for -), as conv converts them.
func Convert(args []string, stdin io.Reader, stdout, stderr io.Writer, conv Converter) int {
	fs := flag.NewFlagSet("sia-agent convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "read KEY=VALUE lines from `file` (- for standard input) instead of the environment")
	allow := fs.Bool("allow-unsupported", false, "print the pipeline even if some variables have no equivalent")
	if code, ok := parse(fs, args, stdout, stderr, convertHelp); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sia-agent convert: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ExitUsage
	}
	env, lines, name, err := readEnv(*envFile, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "sia-agent convert: %v\n", err)
		return ExitConfig
	}
	// An env file holds the agent's settings alone: anything else in it
	// is a mistake worth hearing about.
	res := conv(env, *envFile != "")
	return printConversion(stdout, stderr, res, lines, name, *allow)
}

const convertHelp = `Usage: sia-agent convert [--env-file FILE] [--allow-unsupported] > pipeline.yaml

Prints a pipeline that does what k8s-athenz-sia did with its environment
variables: those of this process, or those of an env file. Notes, unknown
and unsupported variables go to standard error. Exit 78 if a value is
invalid, if a variable is unknown or unsupported (unless
--allow-unsupported) or if the env file cannot be read: no pipeline is
printed then. Exit 64 for a bad command line.
`

// readEnv reads the variables to convert: the process's without an env
// file, else the file's (stdin for -), with the line each was set at and
// the file's name for findings.
func readEnv(file string, stdin io.Reader) (env map[string]string, lines map[string]int, name string, err error) {
	if file == "" {
		return environ(os.Environ()), nil, "", nil
	}
	r := stdin
	name = file
	if name == "-" {
		name = "<stdin>"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, "", err
		}
		defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
		r = f
	}
	env, lines, err = readEnvFile(name, r)
	return env, lines, name, err
}

// printConversion prints res's findings, in the order of the env file
// (findings about unset variables first), to stderr and its pipeline to
// stdout unless a finding forbids it; it returns the exit code.
func printConversion(stdout, stderr io.Writer, res Conversion, lines map[string]int, name string, allow bool) int {
	slices.SortStableFunc(res.Findings, func(a, b Finding) int { return cmp.Compare(lines[a.Var], lines[b.Var]) })
	invalid, unsupported := 0, 0
	for _, f := range res.Findings {
		if line, ok := lines[f.Var]; ok {
			fmt.Fprintf(stderr, "%s:%d: ", name, line)
		}
		fmt.Fprintln(stderr, f.Text)
		if f.Invalid {
			invalid++
		}
		if f.Unsupported {
			unsupported++
		}
	}
	switch {
	case invalid > 0:
		fmt.Fprintf(stderr, "sia-agent convert: %s (see above): fix and run again\n", plural(invalid, "invalid value"))
		return ExitConfig
	case unsupported > 0 && !allow:
		fmt.Fprintf(stderr, "sia-agent convert: %s without an equivalent (see above): "+
			"run again with --allow-unsupported to convert the rest\n", plural(unsupported, "variable"))
		return ExitConfig
	}
	if _, err := stdout.Write(res.Pipeline); err != nil {
		fmt.Fprintf(stderr, "sia-agent convert: writing the pipeline: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// environ turns os.Environ's KEY=VALUE strings into a map.
func environ(kvs []string) map[string]string {
	env := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// readEnvFile reads KEY=VALUE lines, as `docker run --env-file` and
// `kubectl exec ... env` write them. Blank lines and lines starting with #
// are skipped, an `export ` prefix is allowed, and a value in matching
// quotes loses them. It returns the variables and the line each was set
// at.
func readEnvFile(name string, r io.Reader) (env map[string]string, lines map[string]int, err error) {
	env, lines = make(map[string]string), make(map[string]int)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if k = strings.TrimSpace(k); !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, nil, fmt.Errorf("%s:%d: want KEY=VALUE, not %q", name, n, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
		lines[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return env, lines, nil
}

// plural returns "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
