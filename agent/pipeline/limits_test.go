package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// problemAt fails unless err has a problem on line with key.
func problemAt(t *testing.T, err error, line int, key, message string) {
	t.Helper()
	_ = findProblem(t, err, line, key, message)
}

// findProblem returns the problem of err on line with key, or fails.
func findProblem(t *testing.T, err error, line int, key, message string) *conf.Problem {
	t.Helper()
	for _, p := range conf.AsProblems(err) {
		if p.Line == line && p.Path.String() == key && strings.Contains(p.Message, message) {
			return p
		}
	}
	t.Fatalf("no problem on line %d about %q saying %q; got:\n%v", line, key, message, err)
	return nil
}

// withinBounds fails when p, returned with an error, still holds a config
// that a plugin must never be sent.
func withinBounds(t *testing.T, p *Pipeline) {
	t.Helper()
	if p == nil {
		return
	}
	for _, pr := range p.Providers {
		if pr.Config == nil {
			continue
		}
		var m conf.Measurer
		if size, depth := m.Size(pr.Config), m.Depth(pr.Config); size > MaxConfigSize || depth > MaxDepth || len(m.Cycles()) > 0 {
			t.Errorf("%s: the pipeline returned with the error holds its config (%d bytes, %d levels, cycles %v)", pr.Name, size, depth, m.Cycles())
		}
	}
}

// An alias inside the value it refers to makes a value that holds itself:
// refused wherever it is, at the alias's line, before anything expands it.
func TestAliasCyclesAreRefused(t *testing.T) {
	dir := fixture(t)
	provider := "providers:\n  - name: a\n    plugin: sia-plugin-a\n"
	for _, c := range []struct {
		name, text string
		line       int
		key        string
	}{
		{"flow list in a config", header + provider + "    config: &a [*a]\n", 7, "providers[0].config[0]"},
		{"deep in a config", header + provider + "    config: &a\n      x:\n        y: [1, *a]\n", 9, "providers[0].config.x.y[1]"},
		{"profile", header + provider + "profiles: &p\n  dev:\n    providers:\n      a: {config: *p}\n", 10, "profiles.dev.providers.a.config"},
		{"agent", "version: 1\nagent: &ag\n  plugin_dir: bin\n  extra: *ag\n" + provider, 4, "agent.extra"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parse(t, dir, c.text, Options{})
			problemAt(t, err, c.line, c.key, "refers to the value that holds it")
			withinBounds(t, p)
		})
	}
}

// A config is measured in bytes, as the plugin receives it: a few anchors
// of long values make a small file a huge message.
func TestConfigSizeIsBoundedInBytes(t *testing.T) {
	dir := fixture(t)
	value := strings.Repeat("x", 300<<10)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n" +
		"      v: &v " + value + "\n      b: *v\n      c: *v\n      d: *v\n" +
		"  - name: b\n    plugin: sia-plugin-b\n    config: {fine: true}\n"
	p, err := parse(t, dir, text, Options{})
	problemAt(t, err, 7, "providers[0].config", "more than 1 MiB")
	if p == nil || len(p.Providers) != 2 || p.Providers[1].Config == nil {
		t.Fatalf("want the pipeline with b's config, got %+v", p)
	}
	withinBounds(t, p)
}

// The smallest part of a config over the bound is the one named.
func TestConfigSizeNamesTheBiggestPart(t *testing.T) {
	dir := fixture(t)
	value := strings.Repeat("x", 200<<10)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n" +
		"      small: 1\n      big:\n        v: &v " + value + "\n        w: [*v, *v, *v, *v, *v]\n"
	p, err := parse(t, dir, text, Options{})
	problemAt(t, err, 9, "providers[0].config.big", "more than 1 MiB")
	withinBounds(t, p)
}

// A profile's config counts merged with the base's.
func TestMergedConfigSizeIsBounded(t *testing.T) {
	dir := fixture(t)
	value := strings.Repeat("x", 300<<10)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config: {v: &v " + value + ", w: *v}\n" +
		"profiles:\n  big:\n    providers:\n      a: {config: {x: *v, y: *v}}\n"
	if _, err := parse(t, dir, text, Options{}); err != nil {
		t.Fatalf("without the profile: %v", err)
	}
	p, err := parse(t, dir, text, Options{Profile: "big"})
	problemAt(t, err, 7, "providers[0].config", "more than 1 MiB")
	withinBounds(t, p)
}

// The whole file, aliases expanded, is bounded too: many providers sharing
// one big anchor.
func TestExpandedFileSizeIsBounded(t *testing.T) {
	dir := fixture(t)
	var b strings.Builder
	b.WriteString(header + "providers:\n")
	for i := range 6 {
		fmt.Fprintf(&b, "  - name: p%d\n    plugin: sia-plugin-a\n", i)
		if i == 0 {
			b.WriteString("    config: {v: &v " + strings.Repeat("x", 800<<10) + "}\n")
		} else {
			b.WriteString("    config: {v: *v}\n")
		}
	}
	p, err := parse(t, dir, b.String(), Options{})
	problemAt(t, err, 4, "providers", "more than 4 MiB")
	withinBounds(t, p)
}

// A billion laughs: ten aliases a level, six levels.
func TestAliasBombIsRefusedAtTheAnchorThatExplodes(t *testing.T) {
	dir := fixture(t)
	var b strings.Builder
	b.WriteString(header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n")
	b.WriteString("      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	p, err := parse(t, dir, b.String(), Options{})
	// l4 is 10^5 values of about 30 bytes: 3.3 MB; l5 is ten times that.
	problemAt(t, err, 13, "providers[0].config.l5", "more than 4 MiB once its aliases are expanded")
	withinBounds(t, p)
}

func TestNestingIsBounded(t *testing.T) {
	dir := fixture(t)
	provider := "providers:\n  - name: a\n    plugin: sia-plugin-a\n"
	block := func(levels int) string {
		var b strings.Builder
		for i := range levels {
			fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat("  ", i+3), i)
		}
		return b.String()
	}
	chain := "      l0: &l0 [[[[[[[[[[1]]]]]]]]]]\n"
	for i := 1; i <= 12; i++ {
		chain += fmt.Sprintf("      l%d: &l%d [[[[[[[[[[*l%d]]]]]]]]]]\n", i, i, i-1)
	}
	for _, c := range []struct {
		name, text string
		line       int
	}{
		{"flow", header + provider + "    config: " + strings.Repeat("[", 120) + strings.Repeat("]", 120) + "\n", 7},
		{"as deep as YAML goes", header + provider + "    config: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", 7},
		// The config is the fourth level: k0 is in the fourth, k97 in the
		// 101st.
		{"block", header + provider + "    config:\n" + block(150), 8 + 97},
		{"through aliases", header + provider + "    config:\n" + chain, 17},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parse(t, dir, c.text, Options{})
			problemAt(t, err, c.line, "providers[0].config", fmt.Sprintf("nested more than %d levels deep", MaxDepth))
			withinBounds(t, p)
		})
	}
	if _, err := parse(t, dir, header+provider+"    config:\n"+block(MaxDepth-3), Options{}); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
}

// A file over MaxFileSize is refused before it is parsed, at the line the
// limit falls on; Load reads no more than that of it.
func TestFileSizeIsBounded(t *testing.T) {
	dir := fixture(t)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n      v: " + strings.Repeat("x", 2<<20) + "\n      w: 1\n"
	_, err := parse(t, dir, text, Options{})
	problemAt(t, err, 8, "", "larger than 1 MiB")

	path := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, Options{Lookup: env{}.lookup})
	problemAt(t, err, 8, "", "larger than 1 MiB")

	data, err := ReadFile("/dev/zero")
	if err != nil || len(data) != MaxFileSize+1 {
		t.Errorf("ReadFile(/dev/zero) read %d bytes (%v), want %d", len(data), err, MaxFileSize+1)
	}
}

// What the measurer counts is never less than what the plugin protocol
// encodes: the bounds hold for the message itself.
func TestMeasureBoundsTheMessage(t *testing.T) {
	long := strings.Repeat("é", 70000)
	texts := []string{
		"a: 1\n",
		"{a: [1, 2, {b: c}], d: !custom tagged, e: ''}\n",
		"k: " + long + "\n",
		"base: &b {x: [1, 2, 3], y: " + long + "}\ncopies: [*b, *b, *b]\n",
		strings.Repeat("\n", 300000) + "late: {line: [numbers]}\n",
		"x: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
	}
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
	}
	for _, text := range texts {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Content) == 0 {
			continue
		}
		var m conf.Measurer
		got := m.Size(&doc)
		if len(m.Cycles()) > 0 || got > MaxExpandedSize {
			continue // what FromYAML would make of it is the problem the bounds prevent
		}
		// The config travels in a ValidateRequest: count its framing too.
		want := proto.Size(&pluginpb.ValidateRequest{Config: pluginpb.FromYAML(&doc)})
		if got < int64(want) {
			t.Errorf("measured %d bytes, the message has %d:\n%.200s", got, want, text)
		}
	}
}

// The returned pipeline of a file with problems never holds a config over
// the bounds, so that validate, which goes on with it, cannot send one.
func TestOversizedConfigIsLeftOut(t *testing.T) {
	dir := fixture(t)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config: {v: &v " + strings.Repeat("y", 600<<10) + ", w: *v}\n" +
		"  - name: b\n    plugin: sia-plugin-b\n    config: {x: 1}\n"
	p, err := parse(t, dir, text, Options{})
	if err == nil || p == nil {
		t.Fatalf("want a pipeline and an error, got %v, %v", p, err)
	}
	if p.Providers[0].Config != nil {
		t.Errorf("a's config is still there")
	}
	if p.Providers[1].Config == nil {
		t.Errorf("b's config is gone")
	}
}

// Refusing a file as deep as YAML goes costs memory in proportion to the
// file, not to its depth squared (a key path for every level).
func TestDeepFileIsRefusedInBoundedMemory(t *testing.T) {
	dir := fixture(t)
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := parse(t, dir, text, Options{})
	runtime.ReadMemStats(&after)
	problemAt(t, err, 7, "providers[0].config", "nested more than")
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("parsing a 20 kB file allocated %d MiB", alloc>>20)
	}
}
