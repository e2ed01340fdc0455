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

	"github.com/sia-agent/sia-agent/agent/siaenv"
)

// convertCommand prints the pipeline that does what k8s-athenz-sia did with
// the environment variables of the process, or of an env file.
func convertCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sia-agent convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "read KEY=VALUE lines from `file` (- for standard input) instead of the environment")
	allow := fs.Bool("allow-unsupported", false, "print the pipeline even if some variables have no equivalent")
	help := `Usage: sia-agent convert [--env-file FILE] [--allow-unsupported] > pipeline.yaml

Prints a pipeline that does what k8s-athenz-sia did with its environment
variables: those of this process, or those of an env file. Notes, unknown
and unsupported variables go to standard error. Exit 78 if a value is
invalid, if a variable is unknown or unsupported (unless
--allow-unsupported) or if the env file cannot be read: no pipeline is
printed then. Exit 64 for a bad command line.
`
	if code, ok := parse(fs, args, stdout, stderr, help); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sia-agent convert: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ExitUsage
	}

	var (
		env   map[string]string
		lines map[string]int // variable → its line in the env file
		name  string         // the env file's, for findings
		opts  siaenv.Options
	)
	if *envFile == "" {
		env = environ(os.Environ())
	} else {
		r := stdin
		name = *envFile
		if name == "-" {
			name = "<stdin>"
		} else {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintf(stderr, "sia-agent convert: %v\n", err)
				return ExitConfig
			}
			defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
			r = f
		}
		var err error
		if env, lines, err = readEnvFile(name, r); err != nil {
			fmt.Fprintf(stderr, "sia-agent convert: %v\n", err)
			return ExitConfig
		}
		// An env file holds the agent's settings alone: anything else in
		// it is a mistake worth hearing about.
		opts.ReportUnknown = true
	}

	res := siaenv.Convert(env, opts)
	// In the order of the env file; findings about unset variables first.
	slices.SortStableFunc(res.Findings, func(a, b siaenv.Finding) int { return cmp.Compare(lines[a.Var], lines[b.Var]) })
	for _, f := range res.Findings {
		if line, ok := lines[f.Var]; ok {
			fmt.Fprintf(stderr, "%s:%d: ", name, line)
		}
		fmt.Fprintln(stderr, f)
	}
	invalid, unsupported := res.Count(siaenv.Invalid), res.Count(siaenv.Unsupported)
	switch {
	case invalid > 0:
		fmt.Fprintf(stderr, "sia-agent convert: %s (see above): fix and run again\n", plural(invalid, "invalid value"))
		return ExitConfig
	case unsupported > 0 && !*allow:
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
