package pipeline

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// expandTree expands ${VAR}, ${VAR:-default} and ${VAR:?message} in every
// scalar value of the document doc (never in keys), after parsing, so that
// a variable cannot inject YAML structure. "$$" stands for a literal "$".
func expandTree(file string, doc *yaml.Node, lookup func(string) (string, bool), ps *conf.Problems) {
	e := expander{file: file, lookup: lookup, problems: ps}
	e.tree(doc)
}

type expander struct {
	file     string
	lookup   func(string) (string, bool)
	problems *conf.Problems
	// path is the path of the node at hand in steps (keys and indexes),
	// made a conf.Path only for a problem: a deep file must not cost a
	// path per level.
	path []any
}

func (e *expander) tree(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode, yaml.MappingNode:
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue // a key: never expanded
			}
			if n.Kind == yaml.DocumentNode {
				e.tree(c)
				continue
			}
			e.path = append(e.path, step(n, i))
			e.tree(c)
			e.path = e.path[:len(e.path)-1]
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expand(n.Value, e.lookup)
		if err != nil {
			*e.problems = append(*e.problems, &conf.Problem{File: e.file, Line: n.Line, Path: conf.P(e.path...), Message: err.Error()})
			return
		}
		if v == n.Value {
			return
		}
		n.Value = v
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
			// Let the expanded text resolve as YAML would have resolved it
			// written in place: ${ENABLED:-true} becomes a bool. An
			// explicit tag (!!str ${X}) stays what it says.
			n.Tag = ""
		}
	}
}

// step is the step from n, a mapping or a sequence, to its i-th content
// node, a mapping's value: its key, or its index.
func step(n *yaml.Node, i int) any {
	if n.Kind == yaml.MappingNode {
		return n.Content[i-1].Value
	}
	return i
}

// expand substitutes the variables in s.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated variable reference %q (write $$ for a literal $)", s[i:])
		}
		v, err := resolve(s[i+2:i+end], lookup)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(v, "\n\r") {
			return "", fmt.Errorf("variable in %q expands to a value with a line break, which is not allowed", s[i:i+end+1])
		}
		b.WriteString(v)
		i += end
	}
	return b.String(), nil
}

// resolve evaluates the inside of ${...}.
func resolve(expr string, lookup func(string) (string, bool)) (string, error) {
	name, rest := expr, ""
	if j := strings.IndexAny(expr, ":"); j >= 0 {
		name, rest = expr[:j], expr[j:]
	}
	if !validName(name) {
		return "", fmt.Errorf("invalid variable name %q in ${%s}", name, expr)
	}
	val, set := lookup(name)
	switch {
	case rest == "":
		if !set {
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
		}
		return val, nil
	case strings.HasPrefix(rest, ":-"):
		if !set || val == "" {
			return rest[2:], nil
		}
		return val, nil
	case strings.HasPrefix(rest, ":?"):
		if !set || val == "" {
			msg := rest[2:]
			if msg == "" {
				msg = "is required"
			}
			return "", fmt.Errorf("environment variable %s: %s", name, msg)
		}
		return val, nil
	}
	return "", fmt.Errorf("unsupported expansion ${%s} (want ${VAR}, ${VAR:-default} or ${VAR:?message})", expr)
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// osLookup is the process environment.
func osLookup(name string) (string, bool) { return os.LookupEnv(name) }
