package pipeline

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
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

// bounds checks the whole file against the bounds: no alias cycle, at
// most MaxDepth levels, at most MaxExpandedSize bytes, measured by m.
func bounds(file string, doc *yaml.Node, m *conf.Measurer) conf.Problems {
	var ps conf.Problems
	m.Size(doc) // finds the cycles
	for _, c := range m.Cycles() {
		target := c.Alias.Alias
		ps = append(ps, &conf.Problem{File: file, Line: c.Alias.Line, Path: c.Path,
			Message: fmt.Sprintf("alias *%s refers to the value that holds it (&%s, line %d): a value cannot contain itself", c.Alias.Value, target.Anchor, target.Line)})
	}
	if len(ps) > 0 {
		return ps
	}
	if m.Depth(doc) > MaxDepth {
		path, line := m.Deeper(doc, MaxDepth)
		ps = append(ps, &conf.Problem{File: file, Line: line, Path: unit(path),
			Message: fmt.Sprintf("nested more than %d levels deep once aliases are expanded; a pipeline file may nest at most %d", MaxDepth, MaxDepth)})
	}
	if m.Size(doc) > MaxExpandedSize {
		path, line := m.Larger(doc, MaxExpandedSize)
		ps = append(ps, &conf.Problem{File: file, Line: line, Path: path,
			Message: fmt.Sprintf("holds more than %s once its aliases are expanded; the whole file may expand to at most %s: use fewer aliases", mib(MaxExpandedSize), mib(MaxExpandedSize))})
	}
	return ps
}

// unit cuts a path to the provider config or the top-level key it is in:
// the part of the file a problem deep down is about.
func unit(path conf.Path) conf.Path {
	steps := path.Steps()
	switch {
	case len(steps) >= 3 && steps[0] == conf.Step{Key: "providers"} && steps[1].IsIndex && steps[2] == conf.Step{Key: "config"}:
		return conf.P(steps[0], steps[1], steps[2])
	case len(steps) > 0 && !steps[0].IsIndex:
		return conf.P(steps[0])
	}
	return conf.Path{}
}

// boundConfig leaves out a provider's config that is bigger than a plugin
// may receive, so that nothing expands it, and says where it is too big.
func (v *validator) boundConfig(pr *Provider) {
	if pr.Config == nil || v.measure.Size(pr.Config) <= MaxConfigSize {
		return
	}
	path, line := v.measure.Larger(pr.Config, MaxConfigSize)
	if path.IsRoot() {
		_, line = conf.Lookup(v.root, pr.ConfigPath)
	}
	v.problems = append(v.problems, &conf.Problem{File: v.file, Line: line, Path: pr.ConfigPath.Join(path),
		Message: fmt.Sprintf("holds more than %s once its aliases are expanded; a provider's config may hold at most %s, as its plugin receives it", mib(MaxConfigSize), mib(MaxConfigSize))})
	pr.Config = nil
}

// mib writes a whole number of mebibytes.
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
