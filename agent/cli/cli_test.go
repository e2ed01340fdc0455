package cli

import (
	"bytes"
	"strings"
	"testing"
)

// Every command's --help exits 0 and shows its flags as --flag, with
// their defaults, on standard output.
func TestCommandHelp(t *testing.T) {
	for cmd, want := range map[string][]string{
		"run": {"Usage: sia-agent run", "--config file", "$" + EnvConfig, "--profile name", "--mode refresh|init",
			`(default "refresh")`, "--log-level level", "--log-format format"},
		"validate": {"Usage: sia-agent validate", "--config file", "$" + EnvConfig, "--profile name", "--log-level level"},
		"convert":  {"Usage: sia-agent convert", "--env-file file", "--allow-unsupported"},
	} {
		for _, help := range []string{"--help", "-h"} {
			var stdout, stderr bytes.Buffer
			if code := Main([]string{cmd, help}, &stdout, &stderr, nil, nil, nil); code != ExitOK || stderr.Len() > 0 {
				t.Errorf("sia-agent %s %s: exit %d, want 0 and nothing on stderr\n%s", cmd, help, code, stderr.String())
			}
			for _, w := range want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("sia-agent %s %s: no %q in\n%s", cmd, help, w, stdout.String())
				}
			}
			if strings.Contains(stdout.String(), "\n  -") && !strings.Contains(stdout.String(), "\n  --") {
				t.Errorf("sia-agent %s %s: flags shown with one dash:\n%s", cmd, help, stdout.String())
			}
		}
	}
}

// A bad flag is still a usage error, on standard error.
func TestBadFlag(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--nope"},
		{"validate", "--config", "x.yaml", "--log-level", "loud"},
		{"run", "--config", "x.yaml", "--log-format", "xml"},
		{"convert", "--nope"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr, nil, nil, nil); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
		if stderr.Len() == 0 || stdout.Len() > 0 {
			t.Errorf("%q: stdout %q, stderr %q", args, stdout.String(), stderr.String())
		}
	}
}

// The pipeline file can come from the environment; --config wins.
func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv(EnvConfig, "/etc/sia-agent/pipeline.yaml")
	var stderr bytes.Buffer
	f, code := parseFlags("run", nil, &stderr, &stderr, true, nil)
	if f == nil || f.config != "/etc/sia-agent/pipeline.yaml" {
		t.Fatalf("exit %d, flags %+v: %s", code, f, stderr.String())
	}
	if f, _ = parseFlags("run", []string{"--config", "other.yaml"}, &stderr, &stderr, true, nil); f == nil || f.config != "other.yaml" {
		t.Errorf("--config did not win over $%s: %+v", EnvConfig, f)
	}
	t.Setenv(EnvConfig, "")
	if f, code = parseFlags("validate", nil, &stderr, &stderr, false, nil); f != nil || code != ExitUsage ||
		!strings.Contains(stderr.String(), "--config is required (or set $"+EnvConfig+")") {
		t.Errorf("no config: exit %d, %s", code, stderr.String())
	}
}

// --log-level and --log-format reach the agent's options, the level in
// lower case; the agent lays them over the file's settings.
func TestLogFlags(t *testing.T) {
	var stderr bytes.Buffer
	f, code := parseFlags("run", []string{"--config", "pipeline.yaml", "--log-level", "DEBUG", "--log-format", "json"},
		&stderr, &stderr, true, nil)
	if f == nil {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if o := f.options(&stderr, nil); o.LogLevel != "debug" || o.LogFormat != "json" || o.Config != "pipeline.yaml" {
		t.Errorf("options %+v; want log level debug, format json", o)
	}
}
