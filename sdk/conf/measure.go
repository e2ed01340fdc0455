package conf

import "gopkg.in/yaml.v3"

// nodeOverhead is what carrying a node in a message adds to its tag and
// value at most, for a file of a few MiB: its kind, line and column, and
// the framing of its fields and of the node itself (the agent's plugin
// protocol checks that it does).
const nodeOverhead = 24

// saturated caps a measured size, so that no bomb overflows it.
const saturated = 1 << 40

// A Measurer measures YAML trees as a reader that expands their aliases
// sees them, without expanding them: what an alias refers to is measured
// once, so that a small file that stands for a huge tree ("billion
// laughs") is measured in time proportional to the file. It remembers what
// it measured, so measure a document and its parts with one Measurer. The
// zero Measurer is ready to use.
type Measurer struct {
	done   map[*yaml.Node]measure
	active map[*yaml.Node]bool // being measured: an alias to one is a cycle
	cycles []Cycle
	steps  []Step // the path of the node being measured, for the cycles found
}

// A Cycle is an alias that refers to a value holding it: a value that
// contains itself, which no reader can expand.
type Cycle struct {
	Alias *yaml.Node // the alias node
	Path  Path       // of the alias, below the node whose measuring found it
}

// measure is a YAML tree as a reader sees it, aliases expanded.
type measure struct {
	size   int64 // bytes, at most saturated
	depth  int   // levels of mappings and sequences
	cyclic bool  // an alias in it refers to a node that holds it
}

// Size is the size of n's tree, aliases expanded: every node's tag and
// value, and a few bytes for the node itself, about what carrying the tree
// in a message takes.
func (m *Measurer) Size(n *yaml.Node) int64 { return m.of(n).size }

// Depth is how many levels of mappings and sequences n's tree nests,
// aliases expanded; a mapping of scalars has one.
func (m *Measurer) Depth(n *yaml.Node) int { return m.of(n).depth }

// Cycles returns the alias cycles found so far, in the trees measured.
func (m *Measurer) Cycles() []Cycle { return m.cycles }

// of measures n.
func (m *Measurer) of(n *yaml.Node) measure {
	if m.done == nil {
		m.done, m.active = make(map[*yaml.Node]measure), make(map[*yaml.Node]bool)
	}
	if n.Kind == yaml.AliasNode {
		switch {
		case n.Alias == nil:
			return measure{}
		case m.active[n.Alias]:
			m.cycles = append(m.cycles, Cycle{Alias: n, Path: pathOf(m.steps)})
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
		step, ok := stepTo(n, i)
		if ok {
			m.steps = append(m.steps, step)
		}
		cs := m.of(c)
		if ok {
			m.steps = m.steps[:len(m.steps)-1]
		}
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

// stepTo is the step from n to its i-th content node; none for a
// document's content or a mapping's key, whose path is n's.
func stepTo(n *yaml.Node, i int) (Step, bool) {
	switch {
	case n.Kind == yaml.MappingNode && i%2 == 1:
		return Step{Key: n.Content[i-1].Value}, true
	case n.Kind == yaml.SequenceNode:
		return Step{Index: i, IsIndex: true}, true
	}
	return Step{}, false
}

// pathOf builds the path of steps in one go.
func pathOf(steps []Step) Path {
	var b []byte
	for _, s := range steps {
		b = appendStep(b, s)
	}
	return Path{enc: string(b)}
}

// Larger finds the smallest part of n's tree larger than limit on its own,
// without going through an alias (n itself, if none of its parts is): its
// path below n, and the line a problem about it names.
func (m *Measurer) Larger(n *yaml.Node, limit int64) (Path, int) {
	var steps []Step
	line := n.Line
	for n.Kind != yaml.AliasNode {
		i := m.child(n, func(c *yaml.Node) bool { return m.of(c).size > limit })
		if i < 0 {
			break
		}
		if step, ok := stepTo(n, i); ok {
			steps = append(steps, step)
		}
		line = childLine(n, i)
		n = n.Content[i]
	}
	return pathOf(steps), line
}

// Deeper finds the first node of n's tree, in the order of the text, more
// than limit levels of mappings and sequences deep (n's level, unless n is
// a document, is the first), or the alias that leads there: its path below
// n and its line.
func (m *Measurer) Deeper(n *yaml.Node, limit int) (Path, int) {
	var steps []Step
	level := 0
	for level < limit && n.Kind != yaml.AliasNode {
		if n.Kind != yaml.DocumentNode {
			level++
		}
		i := m.child(n, func(c *yaml.Node) bool { return level+m.of(c).depth > limit })
		if i < 0 {
			break
		}
		if step, ok := stepTo(n, i); ok {
			steps = append(steps, step)
		}
		n = n.Content[i]
	}
	return pathOf(steps), n.Line
}

// child returns the index of the first content node of n, leaving out a
// mapping's keys, that over says is over a bound, or -1.
func (m *Measurer) child(n *yaml.Node, over func(*yaml.Node) bool) int {
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
