package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/agent/pipeline"
)

// The log file is rotated by size and its backups bounded, while every
// line still reaches standard error.
func TestLogFileRotates(t *testing.T) {
	dir := t.TempDir()
	p := &pipeline.Pipeline{File: filepath.Join(dir, "pipeline.yaml")}
	p.Agent.LogLevel, p.Agent.LogFormat = "info", "text"
	p.Agent.LogFile = pipeline.LogFile{Path: filepath.Join(dir, "log", "sia-agent.log"), MaxSizeMB: 1, MaxBackups: 2}
	file, err := openLogFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var stderr bytes.Buffer
	log := newLogger(logOutput(&stderr, file), p.Agent.LogLevel, p.Agent.LogFormat)
	line := strings.Repeat("x", 1000)
	const lines = 4 * 1100 // about 4.4 MB: four rotations
	for range lines {
		log.Info(line)
	}
	if n := strings.Count(stderr.String(), "\n"); n != lines {
		t.Errorf("%d lines on standard error, want %d", n, lines)
	}
	fi, err := os.Stat(p.Agent.LogFile.Path)
	if err != nil || fi.Size() > 1<<20 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v, %v; want at most 1 MiB, mode 0600", fi, err)
	}
	// Old backups are removed in the background: wait for them to go.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		backups, _ := filepath.Glob(filepath.Join(dir, "log", "sia-agent-*.log"))
		if len(backups) == 2 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("backups %v, want 2", backups)
		case <-tick.C:
		}
	}
}

func TestLogFileCannotBeOpened(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pipeline.Pipeline{File: filepath.Join(dir, "pipeline.yaml")}
	p.Agent.LogFile = pipeline.LogFile{Path: filepath.Join(blocker, "sia-agent.log"), MaxSizeMB: 1, MaxBackups: 1}
	_, err := openLogFile(p)
	if err == nil || !strings.Contains(err.Error(), "pipeline.yaml: agent.log_file.path: cannot write the log to "+p.Agent.LogFile.Path) {
		t.Errorf("openLogFile: %v", err)
	}
}
