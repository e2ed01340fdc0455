package agent

import (
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/pipeline"
)

// Change is what a reload does to one provider.
type Change uint8

// The changes a reload makes.
const (
	// Unchanged: the provider keeps running. Its entry may still differ
	// in what needs no plugin call: its line, its shutdown timeout.
	Unchanged Change = iota + 1
	// Reconfigured: only its config changed; it is applied in place when
	// the plugin can, and by a restart otherwise.
	Reconfigured
	// Replaced: its plugin changed (binary, built-in, pinned digest):
	// it is restarted.
	Replaced
	// Added: a provider that did not run is started.
	Added
	// Removed: a provider no longer enabled is shut down.
	Removed
)

var changeNames = [...]string{
	Unchanged:    "unchanged",
	Reconfigured: "reconfigured",
	Replaced:     "replaced",
	Added:        "added",
	Removed:      "removed",
}

func (c Change) String() string {
	if int(c) < len(changeNames) && changeNames[c] != "" {
		return changeNames[c]
	}
	return "Change(?)"
}

// Diff is what a reload does to one provider: Old is its entry as it
// runs (nil when added), New its entry in the reloaded pipeline (nil when
// removed).
type Diff struct {
	Name     string
	Change   Change
	Old, New *pipeline.Provider
}

// diff compares the enabled providers that run with those of the
// reloaded pipeline. It returns one Diff per provider of next, in next's
// order, then one per removed provider, in old's order. Providers are
// matched by name: a renamed provider is removed and added.
func diff(old, next []*pipeline.Provider) []Diff {
	byName := make(map[string]*pipeline.Provider, len(old))
	for _, o := range old {
		byName[o.Name] = o
	}
	out := make([]Diff, 0, len(next))
	seen := make(map[string]bool, len(next))
	for _, n := range next {
		seen[n.Name] = true
		o := byName[n.Name]
		out = append(out, Diff{Name: n.Name, Change: compare(o, n), Old: o, New: n})
	}
	for _, o := range old {
		if !seen[o.Name] {
			out = append(out, Diff{Name: o.Name, Change: Removed, Old: o})
		}
	}
	return out
}

// compare says what changed from o (nil for none) to n.
func compare(o, n *pipeline.Provider) Change {
	switch {
	case o == nil:
		return Added
	case o.Path != n.Path || o.Builtin != n.Builtin || o.SHA256 != n.SHA256:
		return Replaced
	case !sameNode(o.Config, n.Config, 0):
		return Reconfigured
	}
	return Unchanged
}

// sameNode reports whether a and b are the same YAML value: the same
// kinds, tags, values and contents, wherever they are in the file and
// whatever comments or style they have. An alias compares as the node it
// stands for; depth bounds the walk, as the loader bounds a file's depth.
func sameNode(a, b *yaml.Node, depth int) bool {
	a, b = resolve(a), resolve(b)
	switch {
	case a == nil || b == nil:
		return empty(a) && empty(b)
	case depth > pipeline.MaxDepth:
		return false
	case a.Kind != b.Kind || a.Value != b.Value || a.ShortTag() != b.ShortTag() || len(a.Content) != len(b.Content):
		return false
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i], depth+1) {
			return false
		}
	}
	return true
}

// resolve follows aliases, and the document node, to the value.
func resolve(n *yaml.Node) *yaml.Node {
	for range pipeline.MaxDepth {
		switch {
		case n == nil:
			return nil
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

// empty reports a config that says nothing: none, or null.
func empty(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
