package sdk

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is a provider's `config:` block from the pipeline file, with
// environment variables already expanded and the profile applied.
//
// Declare the block as a struct with yaml tags, set its defaults and call
// Decode. Give each type of the struct that has rules a Validate method
// (see conf.Validator): Decode calls every one of them and names the
// file, line and key of each problem, so that the operator fixes
// everything in one round.
type Config struct {
	// File is the pipeline file the block came from.
	File string
	// Path is the block's path in that file: providers.<name>.config.
	Path conf.Path
	node *yaml.Node
}

// NewConfig wraps a YAML node; it is how tests build a Config.
func NewConfig(file string, path conf.Path, node *yaml.Node) Config {
	return Config{File: file, Path: path, node: node}
}

// ParseConfig parses YAML text into a Config; handy in tests.
func ParseConfig(file, text string) (Config, error) {
	doc, err := conf.Parse(file, []byte(text))
	if err != nil {
		return Config{}, fmt.Errorf("parsing %s: %w", file, err)
	}
	var n *yaml.Node
	if doc != nil {
		n = doc.Content[0]
	}
	return Config{File: file, node: n}, nil
}

// Node returns the underlying YAML node; nil when the block is empty.
func (c Config) Node() *yaml.Node { return c.node }

// Decode decodes the block into v strictly, then validates it: see
// conf.Decode. A key that matches no field of v, a value of the wrong
// type, and every problem a Validate method of v's types reports is a
// problem naming file, line and key; the error holds them all
// (conf.Problems). An empty block leaves v as it is, so set defaults
// first: they are validated too.
func (c Config) Decode(v any) error {
	return conf.Decode(c.File, c.Path, c.node, v)
}

// Transitional, until every provider declares Validate methods.

// Errorf returns a configuration error about key, a dotted path below the
// block such as "roles[2]" or "address". The error names the line of the
// key when the block has it.
func (c Config) Errorf(key, format string, args ...any) error {
	path := c.Path
	for _, part := range splitKey(key) {
		name, idx, hasIdx := strings.Cut(part, "[")
		if name != "" {
			path = path.Key(name)
		}
		if i, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); hasIdx && err == nil {
			path = path.Index(i)
		}
	}
	return &conf.Problem{
		File:    c.File,
		Line:    c.lineOf(key),
		Path:    path,
		Message: fmt.Sprintf(format, args...),
	}
}

// Problems collects configuration errors so that Validate can report every
// one of them at once.
type Problems = conf.Problems

// lineOf finds the line of a dotted key path below the block, or the line
// of the deepest part of it that exists.
func (c Config) lineOf(key string) int {
	n := c.node
	if n == nil {
		return 0
	}
	line := n.Line
	for _, part := range splitKey(key) {
		next, partLine := child(n, part)
		if next == nil {
			break
		}
		n, line = next, partLine
	}
	return line
}

// child returns the node that part ("name", "name[i]" or "[i]") names
// below n, and the line to report for it: the key's own line, or the
// element's for an index.
func child(n *yaml.Node, part string) (*yaml.Node, int) {
	name, idx, hasIdx := strings.Cut(part, "[")
	line := n.Line
	if name != "" {
		if n.Kind != yaml.MappingNode {
			return nil, 0
		}
		var found *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				found, line = n.Content[i+1], n.Content[i].Line
				break
			}
		}
		if found == nil {
			return nil, 0
		}
		n = found
	}
	if hasIdx {
		var i int
		if _, err := fmt.Sscanf(strings.TrimSuffix(idx, "]"), "%d", &i); err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil, 0
		}
		n = n.Content[i]
		line = n.Line
	}
	return n, line
}

func splitKey(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// Problem is one configuration error, naming file, line and key.
type Problem = conf.Problem

// Duration is a time.Duration written in configuration as "30s", "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		// A *yaml.TypeError lets decoding go on, so that every problem
		// in the block is reported, not just this one.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (write e.g. 30s or 5m)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String writes d as a person would, and as the configuration accepts it:
// 1m, not 1m0s; 24h, not 24h0m0s.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
