package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The log level and format of the options override the file's agent
// settings (and a profile's).
func TestLogOptionsOverrideTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	text := "version: 1\nagent:\n  log_level: error\n  log_format: text\nproviders:\n  - name: health\n    plugin: health\n" +
		"profiles:\n  quiet:\n    agent: {log_level: error}\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := loadPipeline(Options{Config: file, Profile: "quiet", LogLevel: "debug", LogFormat: "json", Builtins: []Builtin{{Name: "health"}}})
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

// Validate reports what validate prints: a file it cannot read at all
// as Err, and a file with problems as every problem, in the order of the
// file, with the configuration's exit code.
func TestValidateReports(t *testing.T) {
	v := Validate(t.Context(), Options{Config: filepath.Join(t.TempDir(), "missing.yaml")})
	if v.Err == nil || v.Code != ExitConfig || v.Pipeline != nil {
		t.Errorf("missing file: %+v", v)
	}

	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	text := "version: 1\nagent:\n  log_levl: debug\nproviders:\n  - name: health\n    plugin: health\n    enabled: maybe\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	v = Validate(t.Context(), Options{Config: file, Log: &bytes.Buffer{}})
	// The plugin is not found either: no built-in providers here.
	if v.Err != nil || v.Code != ExitConfig || len(v.Problems) != 3 {
		t.Fatalf("three problems: %+v", v)
	}
	for i, line := range []int{3, 6, 7} {
		if v.Problems[i].Line != line {
			t.Errorf("problem %d at line %d, want %d: %v", i, v.Problems[i].Line, line, v.Problems)
		}
	}
	if !strings.HasPrefix(v.Problems[2].Path.String(), "providers.health.") {
		t.Errorf("problem %v does not name the provider by name", v.Problems[2])
	}
}
