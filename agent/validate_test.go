package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

func TestBlank(t *testing.T) {
	for in, want := range map[string]string{
		"  log_levl: debug\n":     "  \n",
		"  - nme: certificate\n":  "  - \n",
		"    - - ${X}\r\n":        "    - - \r\n",
		"      - ${SIA_DIR}/x":    "      - ",
		"  -name: not an item\n":  "  \n",
		"config: {endpoint: x}\n": "\n",
	} {
		if got := blank(in); got != want {
			t.Errorf("blank(%q) = %q, want %q", in, got, want)
		}
	}
}

// A file that does not load still yields its providers, with the text of
// each problem blanked: an unknown key in a provider's entry, an unset
// variable in a block config, and one in a flow config, whose whole block
// goes.
func TestSalvage(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"sia-plugin-cert", "sia-plugin-token"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "pipeline.yaml")
	text := `version: 1
agent:
  plugin_dir: .
providers:
  - nme: certificate
    plugin: sia-plugin-cert
    config:
      endpoint: ${SIA_TEST_UNSET}
      domain: sports
  - name: token
    plugin: sia-plugin-token
    config: {endpoint: "${SIA_TEST_UNSET}", key_file: /k}
  - name: health
    plugin: sia-plugin-helth
`
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.Load(file, pipeline.Options{})
	problems := conf.AsProblems(err)
	if len(problems) != 3 {
		t.Fatalf("want 3 problems of the file, got %v", err)
	}

	p, skip, uncovered := salvage(file, problems, pipeline.Options{})
	if p == nil {
		t.Fatal("nothing salvaged")
	}
	if len(p.Providers) != 3 {
		t.Fatalf("%d providers, want 3", len(p.Providers))
	}
	if cfg := p.Providers[0].Config; cfg == nil || len(cfg.Content) != 2 || cfg.Content[0].Value != "domain" {
		t.Errorf("certificate config: want only domain left, got %+v", cfg)
	}
	if p.Providers[1].Config != nil {
		t.Errorf("token config: want none left, got %+v", p.Providers[1].Config)
	}
	if got, want := pathStrings(skip), []string{"providers[0].config.endpoint", "providers[0].nme", "providers[1].config"}; !slices.Equal(got, want) {
		t.Errorf("skip %q, want %q", got, want)
	}
	var found bool
	for _, pb := range uncovered {
		if pb.Path == conf.P("providers", 2, "plugin") && strings.Contains(pb.Message, "not found") {
			found = true
		}
	}
	if !found {
		t.Errorf("the missing plugin is not among the problems left: %v", uncovered)
	}
}

// pathStrings returns the paths as text, sorted.
func pathStrings(paths []conf.Path) []string {
	var out []string
	for _, p := range paths {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func TestUnder(t *testing.T) {
	paths := []conf.Path{conf.P("providers", "token", "config"), conf.P("providers", "a", "config", "x509_files", 0)}
	for _, c := range []struct {
		path conf.Path
		want bool
	}{
		{conf.P("providers", "token", "config"), true},
		{conf.P("providers", "token", "config", "endpoint"), true},
		{conf.P("providers", "token", "configx"), false},
		{conf.P("providers", "a", "config", "x509_files", 0), true},
		{conf.P("providers", "a", "config", "x509_files", 1), false},
		{conf.P("providers", "a", "config", "x509_files", 0, "whatnot"), true},
		// A provider named with a dot is not another provider's config.
		{conf.P("providers", "token.config"), false},
	} {
		if got := under(c.path, paths); got != c.want {
			t.Errorf("under(%s) = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestByName(t *testing.T) {
	p := &pipeline.Pipeline{Providers: []*pipeline.Provider{{Name: "certificate"}, {Name: ""}, {Name: "cert.v2"}}}
	for _, c := range []struct {
		path conf.Path
		want string
	}{
		{conf.P("providers", 0, "config", "endpoint"), "providers.certificate.config.endpoint"},
		{conf.P("providers", 0), "providers.certificate"},
		{conf.P("providers", 1, "plugin"), "providers[1].plugin"},
		{conf.P("providers", 7, "plugin"), "providers[7].plugin"},
		{conf.P("agent", "log_level"), "agent.log_level"},
		{conf.P("providers", 2, "config"), "providers.cert.v2.config"},
	} {
		if got := byName(c.path, p); got.String() != c.want {
			t.Errorf("byName(%s) = %s, want %s", c.path, got, c.want)
		}
	}
	if got := byName(conf.P("providers", 2, "config"), p); got != conf.P("providers", "cert.v2", "config") {
		t.Errorf("byName made %#v, not a path of steps", got.Steps())
	}
}

// Salvaging a file as deep as YAML goes indexes it in memory in
// proportion to the file, not to its depth squared, and still yields the
// providers, the deep config left out.
func TestSalvageOfADeepFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sia-plugin-test"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "pipeline.yaml")
	text := "version: 1\nagent:\n  plugin_dir: .\nproviders:\n  - name: deep\n    plugin: sia-plugin-test\n    config: " +
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n  - name: other\n    plugin: sia-plugin-test\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pipeline.Load(file, pipeline.Options{})
	problems := conf.AsProblems(err)
	if len(problems) != 1 || problems[0].Path != conf.P("providers", 0, "config") {
		t.Fatalf("want the depth problem, got %v", err)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, skip, _ := salvage(file, problems, pipeline.Options{})
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("salvaging a %d kB file allocated %d MiB", len(text)>>10, alloc>>20)
	}
	if p == nil || len(p.Providers) != 2 || p.Providers[0].Config != nil {
		t.Fatalf("want both providers and no deep config, got %+v", p)
	}
	if !slices.Contains(skip, conf.P("providers", 0, "config")) {
		t.Errorf("skip %q lacks the deep config", skip)
	}
}
