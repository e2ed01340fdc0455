package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/internal/strictyaml"
)

// Bounds of a pipeline file. YAML's aliases let a small file stand for a
// huge tree ("billion laughs"), and a deep one for a message that the
// plugin protocol cannot decode: the loader measures the file with its
// aliases expanded, without expanding them, before anything else reads it.
const (
	// MaxFileSize bounds the file as written.
	MaxFileSize = 1 << 20
	// MaxExpandedSize bounds the whole file once its aliases are expanded,
	// and so what all the providers' configs add up to.
	MaxExpandedSize = 4 << 20
	// MaxConfigSize bounds a provider's config as its plugin receives it,
	// aliases expanded and a profile merged in: well under gRPC's 4 MiB
	// limit on a message.
	MaxConfigSize = 1 << 20
	// MaxDepth bounds the nesting of mappings and sequences, counting the
	// file's top-level mapping as the first level.
	MaxDepth = 100
)

// nodeOverhead is what the plugin protocol adds to a node's tag and value
// at most, for a file within MaxFileSize: its kind, line and column, and
// the framing of its fields and of the node itself (pluginpb.Node).
const nodeOverhead = 24

// saturated caps a measured size, so that no bomb overflows it.
const saturated = 1 << 40

// measure is a YAML tree as a plugin receives it, aliases expanded.
type measure struct {
	size   int64 // bytes, at most saturated
	depth  int   // levels of mappings and sequences
	cyclic bool  // an alias in it refers to a node that holds it
}

// measurer measures YAML trees in time proportional to the file, not to
// the tree its aliases make: what an alias refers to is measured once.
type measurer struct {
	done   map[*yaml.Node]measure
	active map[*yaml.Node]bool // being measured: an alias to one is a cycle
	cycles []cycle
	path   []string // of the node being measured, for the cycles found
}

type cycle struct {
	alias *yaml.Node
	key   string
}

func newMeasurer() *measurer {
	return &measurer{done: make(map[*yaml.Node]measure), active: make(map[*yaml.Node]bool)}
}

// of measures n.
func (m *measurer) of(n *yaml.Node) measure {
	if n.Kind == yaml.AliasNode {
		switch {
		case n.Alias == nil:
			return measure{}
		case m.active[n.Alias]:
			m.cycles = append(m.cycles, cycle{alias: n, key: strings.Join(m.path, "")})
			return measure{cyclic: true}
		}
		return m.of(n.Alias)
	}
	if s, ok := m.done[n]; ok {
		return s
	}
	m.active[n] = true
	s := measure{size: int64(nodeOverhead + len(n.Tag) + len(n.Value))}
	for i, c := range n.Content {
		m.path = append(m.path, segment(n, i))
		cs := m.of(c)
		m.path = m.path[:len(m.path)-1]
		s.size = min(s.size+cs.size, saturated)
		s.depth = max(s.depth, cs.depth)
		s.cyclic = s.cyclic || cs.cyclic
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		s.depth++
	}
	delete(m.active, n)
	m.done[n] = s
	return s
}

// segment is what the key path of n's i-th content node adds to n's.
func segment(n *yaml.Node, i int) string {
	switch n.Kind {
	case yaml.MappingNode:
		if i%2 == 0 {
			return "" // a key: its value is what has the path
		}
		return "." + n.Content[i-1].Value
	case yaml.SequenceNode:
		return "[" + strconv.Itoa(i) + "]"
	}
	return ""
}

// document checks the whole file against the bounds: no alias cycle, at
// most MaxDepth levels, at most MaxExpandedSize bytes.
func (m *measurer) document(file string, doc *yaml.Node) strictyaml.Problems {
	s := m.of(doc)
	var ps strictyaml.Problems
	for _, c := range m.cycles {
		target := c.alias.Alias
		ps = append(ps, &strictyaml.Problem{File: file, Line: c.alias.Line, Key: strings.TrimPrefix(c.key, "."),
			Message: fmt.Sprintf("alias *%s refers to the value that holds it (&%s, line %d): a value cannot contain itself", c.alias.Value, target.Anchor, target.Line)})
	}
	if len(ps) > 0 {
		return ps
	}
	if s.depth > MaxDepth {
		line, key := m.tooDeep(doc)
		ps = append(ps, &strictyaml.Problem{File: file, Line: line, Key: key,
			Message: fmt.Sprintf("nested more than %d levels deep once aliases are expanded; a pipeline file may nest at most %d", MaxDepth, MaxDepth)})
	}
	if s.size > MaxExpandedSize {
		line, key := m.tooBig(doc, "", MaxExpandedSize)
		ps = append(ps, &strictyaml.Problem{File: file, Line: line, Key: key,
			Message: fmt.Sprintf("holds more than %s once its aliases are expanded; the whole file may expand to at most %s: use fewer aliases", mib(MaxExpandedSize), mib(MaxExpandedSize))})
	}
	return ps
}

// tooBig finds, from n (at key path base) down, the smallest part of the
// tree over limit on its own, without going through an alias: the line of
// its key and its key path.
func (m *measurer) tooBig(n *yaml.Node, base string, limit int64) (int, string) {
	line, key := n.Line, base
	for n.Kind != yaml.AliasNode {
		i := m.child(n, func(c *yaml.Node) bool { return m.of(c).size > limit })
		if i < 0 {
			break
		}
		line, key = childLine(n, i), key+segment(n, i)
		n = n.Content[i]
	}
	return line, strings.TrimPrefix(key, ".")
}

// tooDeep finds the first node of the document, in file order, past
// MaxDepth levels, or the alias that leads there: its line, and the key
// path of the unit it is in (a provider's config, or a top-level key).
func (m *measurer) tooDeep(doc *yaml.Node) (int, string) {
	n, level, key := doc, 0, ""
	for level < MaxDepth && n.Kind != yaml.AliasNode {
		if n.Kind != yaml.DocumentNode {
			level++
		}
		i := m.child(n, func(c *yaml.Node) bool { return level+m.of(c).depth > MaxDepth })
		if i < 0 {
			break
		}
		key += segment(n, i)
		n = n.Content[i]
	}
	return n.Line, unit(strings.TrimPrefix(key, "."))
}

// child returns the index of the first content node of n that over says
// is over a bound, or -1.
func (m *measurer) child(n *yaml.Node, over func(*yaml.Node) bool) int {
	for i, c := range n.Content {
		if (n.Kind != yaml.MappingNode || i%2 == 1) && over(c) {
			return i
		}
	}
	return -1
}

// childLine is the line of n's i-th content node: for a mapping value, its
// key's.
func childLine(n *yaml.Node, i int) int {
	if n.Kind == yaml.MappingNode {
		return n.Content[i-1].Line
	}
	return n.Content[i].Line
}

// unit cuts a key path to the provider config or the top-level key it is
// in: the part of the file a problem deep down is about.
func unit(key string) string {
	if rest, ok := strings.CutPrefix(key, "providers["); ok {
		if idx, after, ok := strings.Cut(rest, "]"); ok && strings.HasPrefix(after, ".config") {
			return "providers[" + idx + "].config"
		}
	}
	top, _, _ := strings.Cut(key, ".")
	top, _, _ = strings.Cut(top, "[")
	return top
}

// boundConfig leaves out a provider's config that is bigger than a plugin
// may receive, so that nothing expands it, and says where it is too big.
func (v *validator) boundConfig(pr *Provider) {
	if pr.Config == nil || v.measure.of(pr.Config).size <= MaxConfigSize {
		return
	}
	line, key := v.measure.tooBig(pr.Config, pr.ConfigPath, MaxConfigSize)
	if key == pr.ConfigPath {
		line = lineOf(v.root, key)
	}
	v.problems = append(v.problems, &strictyaml.Problem{File: v.file, Line: line, Key: key,
		Message: fmt.Sprintf("holds more than %s once its aliases are expanded; a provider's config may hold at most %s, as its plugin receives it", mib(MaxConfigSize), mib(MaxConfigSize))})
	pr.Config = nil
}

// mib writes a whole number of mebibytes.
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
