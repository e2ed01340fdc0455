package cli

import (
	"bytes"
	"os"
	"path/filepath"
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
			if code := Main([]string{cmd, help}, &stdout, &stderr, nil, nil); code != ExitOK || stderr.Len() > 0 {
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
		if code := Main(args, &stdout, &stderr, nil, nil); code != ExitUsage {
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

// --log-level and --log-format override the file's agent settings (and
// a profile's).
func TestLogFlagsOverrideTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	text := "version: 1\nagent:\n  log_level: error\n  log_format: text\nproviders:\n  - name: health\n    plugin: health\n" +
		"profiles:\n  quiet:\n    agent: {log_level: error}\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	f, code := parseFlags("run", []string{"--config", file, "--profile", "quiet", "--log-level", "DEBUG", "--log-format", "json"},
		&stderr, &stderr, true, []Builtin{{Name: "health"}})
	if f == nil {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	p, err := loadPipeline(f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Agent.LogLevel != "debug" || p.Agent.LogFormat != "json" {
		t.Errorf("log level %q, format %q; want debug, json", p.Agent.LogLevel, p.Agent.LogFormat)
	}
	var out bytes.Buffer
	newLogger(&out, p).Debug("hello")
	if !strings.HasPrefix(out.String(), "{") || !strings.Contains(out.String(), `"hello"`) {
		t.Errorf("the logger wrote %q, want a JSON debug line", out.String())
	}
}
