package pluginpb

import "gopkg.in/yaml.v3"

// FromYAML converts a YAML node tree, positions included. Aliases are
// resolved, since the receiving side has no anchors to point at.
func FromYAML(n *yaml.Node) *Node {
	if n == nil {
		return nil
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	out := &Node{Tag: n.Tag, Value: n.Value, Line: int32(n.Line), Column: int32(n.Column)} //nolint:gosec // G115: positions in a file of at most a few MiB
	switch n.Kind {
	case yaml.MappingNode:
		out.Kind = Node_MAPPING
	case yaml.SequenceNode:
		out.Kind = Node_SEQUENCE
	default:
		out.Kind = Node_SCALAR
	}
	if len(n.Content) > 0 {
		out.Content = make([]*Node, len(n.Content))
		for i, c := range n.Content {
			out.Content[i] = FromYAML(c)
		}
	}
	return out
}

// YAML converts the node back into a YAML node tree.
func (n *Node) YAML() *yaml.Node {
	if n == nil {
		return nil
	}
	out := &yaml.Node{Tag: n.GetTag(), Value: n.GetValue(), Line: int(n.GetLine()), Column: int(n.GetColumn())}
	switch n.GetKind() {
	case Node_MAPPING:
		out.Kind = yaml.MappingNode
	case Node_SEQUENCE:
		out.Kind = yaml.SequenceNode
	default:
		out.Kind = yaml.ScalarNode
	}
	if len(n.GetContent()) > 0 {
		out.Content = make([]*yaml.Node, len(n.GetContent()))
		for i, c := range n.GetContent() {
			out.Content[i] = c.YAML()
		}
	}
	return out
}
