package sdk

import (
	"fmt"
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
