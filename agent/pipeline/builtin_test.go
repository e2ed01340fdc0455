package pipeline

import (
	"path/filepath"
	"testing"
)

// A bare name among the built-in providers needs no binary; the name of a
// first-party plugin binary of earlier versions still works and says so;
// anything else is a plugin binary, as before.
func TestBuiltinProviders(t *testing.T) {
	dir := fixture(t)
	opts := Options{Builtins: []string{"cert", "token"}, DefaultPluginDir: filepath.Join(dir, "bin")}
	cases := []struct {
		plugin, builtin, renamed, path string
	}{
		{plugin: "cert", builtin: "cert"},
		{plugin: "sia-plugin-token", builtin: "token", renamed: "sia-plugin-token"},
		{plugin: "sia-plugin-a", path: filepath.Join(dir, "bin", "sia-plugin-a")},
	}
	for _, c := range cases {
		t.Run(c.plugin, func(t *testing.T) {
			p := mustParse(t, dir, "version: 1\nproviders:\n  - name: a\n    plugin: "+c.plugin+"\n", opts)
			pr := p.Providers[0]
			if pr.Builtin != c.builtin || pr.Renamed != c.renamed || pr.Path != c.path {
				t.Errorf("Builtin %q, Renamed %q, Path %q; want %q, %q, %q", pr.Builtin, pr.Renamed, pr.Path, c.builtin, c.renamed, c.path)
			}
		})
	}
	if _, err := parse(t, dir, "version: 1\nproviders:\n  - name: a\n    plugin: metrics\n", opts); err == nil {
		t.Error("a name that is neither built in nor a binary was accepted")
	}
}
