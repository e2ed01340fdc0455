package siaenv

import (
	"gopkg.in/yaml.v3"
)

// object is a YAML mapping under construction whose values carry, as a
// line comment, the variable they came from, so that a reader of the
// pipeline can tell which setting became which key.
type object struct{ node *yaml.Node }

func newObject() *object { return &object{node: &yaml.Node{Kind: yaml.MappingNode}} }

// set adds key with value v. from, if not empty, names the variables the
// value came from.
func (o *object) set(key string, v *yaml.Node, from string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	if from != "" {
		// A scalar's comment follows its value; a block's follows its key.
		if v.Kind == yaml.ScalarNode {
			v.LineComment = from
		} else {
			k.LineComment = from
		}
	}
	o.node.Content = append(o.node.Content, k, v)
}

func (o *object) str(key, value, from string) { o.set(key, str(value), from) }

func (o *object) empty() bool { return len(o.node.Content) == 0 }

// str is a string scalar; the encoder quotes it when it would read as
// another type.
func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
