package conf

import "gopkg.in/yaml.v3"

// maxMerges bounds how deep Lookup follows merge keys into merge keys, so
// that a merge that refers to its own mapping cannot loop.
const maxMerges = 32

// Lookup finds the node at path below root, and the line a problem about
// that value names: the line of the path's last key, or of the element for
// a last index. When the path leads nowhere, the node is nil and the line
// is that of the deepest part of the path that exists, so that a missing
// key is reported at the mapping that lacks it.
//
// A document node stands for its content, an alias for the value it refers
// to, and a key that a mapping merges in (<<: *defaults) is found there.
// Lookup of a nil root finds nothing, on line 0.
func Lookup(root *yaml.Node, path Path) (*yaml.Node, int) {
	n := resolve(root)
	if n == nil {
		return nil, 0
	}
	line := n.Line
	for rest := path.enc; rest != ""; {
		var s Step
		s, rest = next(rest)
		child, childLine := lookupStep(n, s, 0)
		if child == nil {
			return nil, line
		}
		n, line = resolve(child), childLine
	}
	return n, line
}

// resolve returns the node that n stands for: a document's content, an
// alias's target.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

// lookupStep takes step s from n: the value and the line of its key, or
// the element and its line.
func lookupStep(n *yaml.Node, s Step, merges int) (*yaml.Node, int) {
	switch {
	case s.IsIndex:
		if n.Kind != yaml.SequenceNode || s.Index >= len(n.Content) {
			return nil, 0
		}
		return n.Content[s.Index], n.Content[s.Index].Line
	case n.Kind != yaml.MappingNode:
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == s.Key && k.ShortTag() != "!!merge" {
			return n.Content[i+1], k.Line
		}
	}
	if merges >= maxMerges {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() == "!!merge" {
			if v, line := lookupMerged(n.Content[i+1], s, merges+1); v != nil {
				return v, line
			}
		}
	}
	return nil, 0
}

// lookupMerged looks for key step s in what a merge key merges in: a
// mapping, or a sequence of them, the first one that has it winning.
func lookupMerged(v *yaml.Node, s Step, merges int) (*yaml.Node, int) {
	v = resolve(v)
	if v == nil {
		return nil, 0
	}
	if v.Kind == yaml.SequenceNode {
		for _, m := range v.Content {
			if found, line := lookupMerged(m, s, merges); found != nil {
				return found, line
			}
		}
		return nil, 0
	}
	return lookupStep(v, s, merges)
}
