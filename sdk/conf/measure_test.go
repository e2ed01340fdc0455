package conf

import (
	"fmt"
	"strings"
	"testing"
)

func TestMeasurerSizeAndDepth(t *testing.T) {
	var m Measurer
	doc := parse(t, "a: {b: [1, 22]}\n")
	// Nodes: the document, the top mapping, a, the inner mapping, b, the
	// sequence, 1 and 22: their values are 1+1+1+2 bytes, and all but the
	// document have a tag of 5 (!!map, !!str, !!seq, !!int).
	if got, want := m.Size(doc), int64(8*nodeOverhead+5+7*5); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	if got := m.Depth(doc); got != 3 {
		t.Errorf("Depth = %d, want 3", got)
	}
	if got := m.Depth(parse(t, "x\n")); got != 0 {
		t.Errorf("Depth of a scalar = %d", got)
	}
}

// Aliases count as often as they are used, but are measured once: a
// billion laughs is measured at once, and saturates instead of overflowing.
func TestMeasurerExpandsAliasesWithoutExpandingThem(t *testing.T) {
	var m Measurer
	copies := parse(t, "base: &b {x: "+strings.Repeat("y", 1000)+"}\ncopies: [*b, *b, *b]\n")
	if got := m.Size(copies); got < 4000 || got > 5000 {
		t.Errorf("Size of four copies of 1000 bytes = %d", got)
	}
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	if got := m.Size(parse(t, b.String())); got != saturated {
		t.Errorf("Size of 10^40 nodes = %d, want it saturated", got)
	}
	if got := m.Depth(parse(t, "a: &a [[1]]\nb: [*a, [*a]]\n")); got != 5 {
		t.Errorf("Depth through aliases = %d, want 5", got)
	}
}

func TestMeasurerFindsCycles(t *testing.T) {
	var m Measurer
	doc := parse(t, "ok: &ok [1]\nuse: *ok\nx:\n  y: &a\n    - z: [1, *a]\n")
	m.Size(doc)
	cycles := m.Cycles()
	if len(cycles) != 1 || cycles[0].Path.String() != "x.y[0].z[1]" || cycles[0].Alias.Line != 5 || cycles[0].Alias.Alias.Anchor != "a" {
		t.Fatalf("Cycles = %+v", cycles)
	}
	m.Size(doc)
	if len(m.Cycles()) != 1 {
		t.Errorf("measuring again found the cycle again: %+v", m.Cycles())
	}
}

// Larger names the smallest part over the limit on its own, at the line
// of its key or element, and never goes through an alias: the alias is
// where the size comes from.
func TestMeasurerLarger(t *testing.T) {
	big := strings.Repeat("x", 2000)
	doc := parse(t, "small: 1\nbig:\n  v: &v "+big+"\n  w: [*v, *v]\nlist:\n  - "+big+"\n")
	var m Measurer
	for _, c := range []struct {
		limit int64
		path  string
		line  int
	}{
		{5000, "big", 2},
		{2500, "big.w", 4},
		{1500, "big.v", 3},
	} {
		path, line := m.Larger(doc, c.limit)
		if path.String() != c.path || line != c.line {
			t.Errorf("Larger(%d) = %s, line %d; want %s, line %d", c.limit, path, line, c.path, c.line)
		}
	}
	list := doc.Content[0].Content[5]
	if path, line := m.Larger(list, 1500); path.String() != "[0]" || line != 6 {
		t.Errorf("Larger(list) = %s, %d", path, line)
	}
	if path, line := m.Larger(list, 1<<20); !path.IsRoot() || line != 6 {
		t.Errorf("Larger of a node within the limit = %s, %d", path, line)
	}
}

func TestMeasurerDeeper(t *testing.T) {
	var m Measurer
	// Levels: the top mapping is the first, b the second, c and d the
	// third; scalars are none.
	doc := parse(t, "a: 1\nb:\n  c: [[x]]\n  d:\n    e: [[[y]]]\n")
	for _, c := range []struct {
		limit int
		path  string
		line  int
	}{
		{1, "b", 3},
		{3, "b.c[0]", 3},
		{4, "b.d.e[0]", 5},
		{5, "b.d.e[0][0]", 5},
	} {
		path, line := m.Deeper(doc, c.limit)
		if path.String() != c.path || line != c.line {
			t.Errorf("Deeper(%d) = %s, line %d; want %s, line %d", c.limit, path, line, c.path, c.line)
		}
	}
	aliased := parse(t, "deep: &d [[[[1]]]]\nuse: [*d]\n")
	if path, line := m.Deeper(aliased, 4); path.String() != "deep[0][0][0]" || line != 1 {
		t.Errorf("Deeper in the anchor = %s, %d", path, line)
	}
	if path, line := m.Deeper(parse(t, "deep: &d [[[1]]]\nuse: [*d]\n"), 4); path.String() != "use[0]" || line != 2 {
		t.Errorf("Deeper through an alias = %s, %d: want the alias", path, line)
	}
}
