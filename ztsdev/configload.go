package ztsdev

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// LoadConfig reads, strictly decodes, defaults, normalises (lower-cases names)
// and validates a config file. Its problems are conf.Problems naming file
// and line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig for data already read; name is used in errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	doc, err := conf.Parser{Noun: "config file"}.Parse(name, data)
	if err != nil {
		return nil, conf.AsProblems(err)
	}
	cfg := &Config{}
	if err := conf.Decode(name, conf.Path{}, doc, cfg); err != nil {
		return nil, unkeyed(conf.AsProblems(err))
	}
	return cfg, nil
}

// unkeyed drops the paths of ps: zts-dev's messages name what they are
// about themselves ("certDefaultMins (100) exceeds certMaxMins (10)"), and
// read file:line: message.
func unkeyed(ps conf.Problems) conf.Problems {
	for _, p := range ps {
		p.Path = conf.Path{}
	}
	return ps
}

// UnmarshalYAML accepts a member as a plain name or as a mapping. A type
// that decodes itself checks its own keys, so unknown keys are found here.
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
				errs = append(errs, fmt.Sprintf("line %d: unknown key %q (known keys: expiration, name)", k.Line, k.Value))
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
