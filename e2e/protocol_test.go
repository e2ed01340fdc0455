package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// A plugin built for another version of the plugin protocol is refused at
// launch, and the error says which versions met: an SDK too old for this
// agent is a clear configuration error, not a strange failure later on.
func TestPluginOfAnotherProtocolVersionIsRefused(t *testing.T) {
	t.Parallel()
	root, err := e2e.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "sia-plugin-old")
	build := exec.Command("go", "build", "-o", old, "./e2e/testdata/oldprotocol")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the old plugin: %v\n%s", err, out)
	}
	file := pipeline(t, "providers:\n  - name: old\n    plugin: "+old+"\n")
	p := runAgent(t, file, nil)
	code := p.Exit(t, waitExit)
	const want = "Plugin version: 1, Client versions: [2]"
	if i := p.Log.Index(want); i < 0 || !strings.Contains(p.Log.Lines()[i], "old") {
		t.Errorf("no line naming the provider and %q:\n%s", want, p.Log)
	}
	if code == 0 {
		t.Errorf("exit code 0 for a plugin the agent cannot speak to\n%s", p.Log)
	}
	// And what to do about it.
	if hint := "rebuild the plugin with an SDK of protocol version 2"; p.Log.Index(hint) < 0 {
		t.Errorf("no %q:\n%s", hint, p.Log)
	}
}
