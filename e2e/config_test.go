package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// Every broken pipeline of the loader's corpus makes the real binary exit
// 78 (a configuration error) with an error naming the file and the line.
func TestBrokenPipelinesExitConfigWithFileAndLine(t *testing.T) {
	t.Parallel()
	root, err := e2e.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "agent", "pipeline", "testdata", "broken", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus of broken pipelines: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(strings.TrimSuffix(file, ".yaml") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// A corpus file names its profile in a first-line comment.
			var extra []string
			if first, _, _ := strings.Cut(string(text), "\n"); strings.HasPrefix(first, "# profile: ") {
				extra = []string{"--profile", strings.TrimPrefix(first, "# profile: ")}
			}
			env := []string{"SIA_TEST_MULTILINE=line one\nline two"}
			for _, cmd := range []string{"run", "validate"} {
				p := e2e.Start(t, filepath.Join(bins, "sia-agent"), env, append([]string{cmd, "--config", file}, extra...)...)
				if code := p.Exit(t, waitExit); code != exitConfig {
					t.Errorf("%s: exit code %d, want %d\n%s", cmd, code, exitConfig, p.Log.String())
				}
				// The loader's tests check each message; here the binary must
				// name the same file and line ("name.yaml:LINE:"). A bare
				// plugin name resolves next to the binary here, so the
				// message itself may differ.
				wantText := strings.TrimSpace(string(want))
				if i := strings.Index(wantText, ".yaml:"); i >= 0 {
					if j := strings.Index(wantText[i+len(".yaml:"):], ":"); j >= 0 {
						wantText = wantText[:i+len(".yaml:")+j+1]
					}
				}
				if out := p.Log.String(); !strings.Contains(out, string(os.PathSeparator)+wantText) {
					t.Errorf("%s: output does not name %q:\n%s", cmd, wantText, out)
				}
			}
		})
	}
}

func TestJSONLogs(t *testing.T) {
	t.Parallel()
	file := pipelineWith(t, "  log_format: json\n", "providers:\n  - name: first\n    plugin: sia-plugin-test\n    config: {goroutines: [server]}\n")
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 1 providers started", waitLine)
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log.String())
	}
	plugin := 0
	for _, line := range p.Log.Lines() {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not a JSON line: %s", line)
			continue
		}
		for _, k := range []string{"@level", "@message", "@timestamp", "@module"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("line lacks %s: %s", k, line)
			}
		}
		if entry["@module"] == "sia-agent.first" {
			plugin++
		}
	}
	if plugin == 0 {
		t.Error("no JSON line from the plugin (module sia-agent.first)")
	}
}
