package ztsdev

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigError is a problem in a config file, located by file and line.
type ConfigError struct {
	File string // as given to LoadConfig, or "<name>" for ParseConfig
	Line int    // 1-based; 0 when unknown
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ConfigErrors is every problem found in one config file.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// LoadConfig reads, strictly decodes, defaults, normalises (lower-cases names)
// and validates a config file. Errors are ConfigErrors naming file and line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig for data already read; name is used in errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(name, err)
	}

	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErrors(name, err)
	}

	v := &validator{file: name, root: &root}
	cfg.normalize(v)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return cfg, nil
}

var (
	yamlLineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// yamlErrors turns yaml.v3's "line N: ..." messages into ConfigErrors, and
// its Go type names into the user's vocabulary.
func yamlErrors(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs ConfigErrors
	for _, m := range msgs {
		ce := &ConfigError{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sub := yamlLineRE.FindStringSubmatch(m); sub != nil {
			ce.Line, _ = strconv.Atoi(sub[1])
			ce.Msg = sub[2]
		}
		if sub := yamlUnknownRE.FindStringSubmatch(ce.Msg); sub != nil {
			ce.Msg = fmt.Sprintf("unknown key %q", sub[1])
		}
		errs = append(errs, ce)
	}
	return errs
}

// UnmarshalYAML accepts a member as a plain name or as a mapping. yaml.v3
// does not apply KnownFields inside custom unmarshalers, so unknown keys are
// checked here.
func (m *Member) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&m.Name)
	case yaml.MappingNode:
		var errs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			var err error
			switch k.Value {
			case "name":
				err = val.Decode(&m.Name)
			case "expiration":
				err = val.Decode(&m.Expiration)
			default:
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type ztsdev.Member", k.Line, k.Value))
			}
			var te *yaml.TypeError
			if errors.As(err, &te) {
				errs = append(errs, te.Errors...)
			} else if err != nil {
				errs = append(errs, fmt.Sprintf("line %d: %v", val.Line, err))
			}
		}
		if len(errs) > 0 {
			return &yaml.TypeError{Errors: errs}
		}
		return nil
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a member is a name or a mapping with name and expiration", n.Line)}}
	}
}

// validator collects semantic errors and locates them in the YAML tree by
// path, so that every message can name its line.
type validator struct {
	file string
	root *yaml.Node
	errs ConfigErrors
}

// errorf records an error at path: map keys (string) and sequence indexes
// (int) from the document root.
func (v *validator) errorf(path []any, format string, args ...any) {
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: v.line(path), Msg: fmt.Sprintf(format, args...)})
}

// line finds the node at path, falling back to its nearest existing parent
// (a missing required key is reported at its parent).
func (v *validator) line(path []any) int {
	n := v.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0] // document -> top-level node
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return line
		}
		n = next
		line = n.Line
	}
	return line
}

// at appends to a path without aliasing the caller's backing array.
func at(path []any, elems ...any) []any {
	p := make([]any, 0, len(path)+len(elems))
	return append(append(p, path...), elems...)
}
