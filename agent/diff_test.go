package agent

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/pipeline"
)

// entry is a provider entry with config parsed from text ("" for none).
func entry(t *testing.T, name, path, config string) *pipeline.Provider {
	t.Helper()
	p := &pipeline.Provider{Name: name, Path: path, Enabled: true, ShutdownTimeout: time.Minute}
	if config != "" {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
			t.Fatal(err)
		}
		p.Config = doc.Content[0]
	}
	return p
}

func TestDiff(t *testing.T) {
	moved := entry(t, "moved", "/p", "\n\n# a comment\na:   1\nb: [x, y]\n")
	moved.Line = 40
	moved.ShutdownTimeout = time.Second
	old := []*pipeline.Provider{
		entry(t, "cert", "/p", "a: 1\n"),
		entry(t, "token", "/p", "targets: [{domain: d}]\n"),
		entry(t, "gone", "/p", ""),
		entry(t, "moved", "/p", "a: 1\nb:\n  - x\n  - y\n"),
		entry(t, "binary", "/p", ""),
		entry(t, "pinned", "/p", ""),
		entry(t, "alias", "/p", "a: &x {k: v}\nb: *x\n"),
		entry(t, "null", "/p", "null\n"),
	}
	pinned := entry(t, "pinned", "/p", "")
	pinned.SHA256 = "ab"
	next := []*pipeline.Provider{
		moved,
		entry(t, "token", "/p", "targets: [{domain: d}, {domain: e}]\n"),
		entry(t, "cert", "/p", "a: 1\n"),
		entry(t, "new", "/p", ""),
		entry(t, "binary", "/q", ""),
		pinned,
		entry(t, "alias", "/p", "a: {k: v}\nb: {k: v}\n"),
		entry(t, "null", "/p", ""),
	}
	want := []struct {
		name   string
		change Change
	}{
		{"moved", Unchanged}, // lines, comments, style and shutdown timeout are no change
		{"token", Reconfigured},
		{"cert", Unchanged}, // a new place in the order is no change
		{"new", Added},
		{"binary", Replaced},
		{"pinned", Replaced},
		{"alias", Unchanged},
		{"null", Unchanged},
		{"gone", Removed},
	}
	got := diff(old, next)
	if len(got) != len(want) {
		t.Fatalf("got %d diffs, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Change != w.change {
			t.Errorf("diff %d: %s %v, want %s %v", i, got[i].Name, got[i].Change, w.name, w.change)
		}
	}
	if got[0].New != moved || got[0].Old != old[3] {
		t.Error("an unchanged provider's diff does not carry both entries")
	}
}

func TestSameNodeTellsValuesApart(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"a: 1\n", "a: 2\n"},
		{"a: 1\n", "b: 1\n"},
		{"a: 1\n", "a: '1'\n"}, // a string, not an int
		{"a: [1]\n", "a: [1, 1]\n"},
		{"a: {}\n", "a: []\n"},
		{"{}\n", "null\n"},
	} {
		a, b := entry(t, "x", "", tc.a), entry(t, "x", "", tc.b)
		if sameNode(a.Config, b.Config, 0) {
			t.Errorf("%q and %q compare the same", tc.a, tc.b)
		}
	}
}
