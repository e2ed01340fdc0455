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
