package conf

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// vtop is a configuration whose parts validate themselves, reached in
// every way the walk goes: a struct field, a pointer, a slice, a map, an
// inline struct.
type vtop struct {
	Name    string            `yaml:"name"`
	Server  vserver           `yaml:"server"`
	TLS     *vtls             `yaml:"tls"`
	Targets []vtarget         `yaml:"targets"`
	ByName  map[string]vroute `yaml:"routes"`
	Shared  `yaml:",inline"`
	Node    yaml.Node `yaml:"node"`
}

// Validate runs after its parts': it sees the targets' names lower-cased.
func (v *vtop) Validate() error {
	var c Checker
	if v.Name == "" {
		c.Errorf("name", "required")
	}
	seen := map[string]bool{}
	for i, t := range v.Targets {
		if seen[t.Domain] {
			c.ErrorfAt(P("targets", i, "domain"), "%s is listed twice", t.Domain)
		}
		seen[t.Domain] = true
	}
	return c.Err()
}

type vserver struct {
	Port    int `yaml:"port"`
	Backlog int `yaml:"backlog"`
}

// Validate has a value receiver.
func (s vserver) Validate() error {
	var c Checker
	if s.Port < 1 {
		c.Errorf("port", "must be at least 1, not %d", s.Port)
	}
	if s.Backlog < 0 {
		c.Errorf("", "a negative backlog")
	}
	return c.Err()
}

type vtls struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Validate returns a plain error: a problem of the value itself.
func (t *vtls) Validate() error {
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("cert and key go together")
	}
	return nil
}

type vtarget struct {
	Domain string   `yaml:"domain"`
	Roles  []string `yaml:"roles"`
}

// Validate normalises the target, and reports a problem below it.
func (t *vtarget) Validate() error {
	t.Domain = strings.ToLower(t.Domain)
	var c Checker
	for i, r := range t.Roles {
		if r == "" {
			c.ErrorfAt(P("roles", i), "empty role")
		}
	}
	return c.Err()
}

type vroute struct {
	To string `yaml:"to"`
}

func (r *vroute) Validate() error {
	r.To = strings.TrimSuffix(r.To, "/")
	if r.To == "" {
		var c Checker
		c.Errorf("to", "required")
		return c.Err()
	}
	return nil
}

// Shared is inlined: its keys are the outer mapping's.
type Shared struct {
	Timeout int `yaml:"timeout"`
}

func (s Shared) Validate() error {
	if s.Timeout < 0 {
		var c Checker
		c.Errorf("timeout", "must not be negative")
		return c.Err()
	}
	return nil
}

func TestValidateWalk(t *testing.T) {
	text := `name: ""
server: {port: 0, backlog: -1}
tls:
  cert: c.pem
targets:
  - domain: Sports
    roles: [reader, ""]
  - domain: sports
routes:
  b: {to: ""}
  a: {to: "https://x/"}
timeout: -1
node: {anything: [goes]}
`
	v := vtop{ByName: map[string]vroute{}}
	err := Decode("f.yaml", P("providers", 0, "config"), parse(t, text), &v)
	want := []string{
		"f.yaml:1: providers[0].config.name: required",
		"f.yaml:2: providers[0].config.server.port: must be at least 1, not 0",
		"f.yaml:2: providers[0].config.server: a negative backlog",
		"f.yaml:3: providers[0].config.tls: cert and key go together",
		`f.yaml:7: providers[0].config.targets[0].roles[1]: empty role`,
		"f.yaml:8: providers[0].config.targets[1].domain: sports is listed twice",
		"f.yaml:10: providers[0].config.routes.b.to: required",
		"f.yaml:12: providers[0].config.timeout: must not be negative",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if v.Targets[0].Domain != "sports" || v.ByName["a"].To != "https://x" {
		t.Errorf("normalised values lost: %+v", v)
	}
}

// The defaults are validated when there is nothing to decode; without a
// node, the problems have a file and a path, and no line.
func TestValidateDefaults(t *testing.T) {
	for _, c := range []struct {
		n    *yaml.Node
		want string
	}{
		{nil, "f.yaml: server.port: must be at least 1, not 0"},
		{parse(t, "\n~\n"), "f.yaml:2: server.port: must be at least 1, not 0"},
	} {
		v := vserver{Port: 0}
		if err := Decode("f.yaml", P("server"), c.n, &v); err == nil || err.Error() != c.want {
			t.Errorf("Decode = %v, want %s", err, c.want)
		}
	}
}

// A value that did not decode is not validated: its checks would complain
// about what is missing.
func TestValidateOnlyWhatDecoded(t *testing.T) {
	var v vtop
	err := Decode("f.yaml", Path{}, parse(t, "name: x\nserver: {port: 0}\nbogus: 1\n"), &v)
	if err == nil || err.Error() != `f.yaml:3: bogus: unknown key "bogus" (known keys: name, node, routes, server, targets, timeout, tls)` {
		t.Errorf("Decode = %v", err)
	}
	err = Decode("f.yaml", Path{}, parse(t, "name: x\nserver: {port: eighty}\n"), &v)
	if ps := AsProblems(err); len(ps) != 1 || !strings.Contains(ps[0].Message, "cannot unmarshal") {
		t.Errorf("Decode = %v", err)
	}
}

// locatedCheck returns a problem that already knows its line and file.
type locatedCheck struct {
	A int `yaml:"a"`
}

func (locatedCheck) Validate() error {
	return Problems{{File: "other.yaml", Line: 42, Path: P("a"), Message: "elsewhere"}}
}

// A problem that knows where it is keeps its file and line; its path is
// still prefixed.
func TestValidateKeepsALocatedProblem(t *testing.T) {
	var v struct {
		L locatedCheck `yaml:"l"`
	}
	err := Decode("f.yaml", Path{}, parse(t, "l: {a: 1}\n"), &v)
	if err == nil || err.Error() != "other.yaml:42: l.a: elsewhere" {
		t.Errorf("Decode = %v", err)
	}
}

// selfDecoding decodes itself: it is validated, its fields are not walked.
type selfDecoder struct {
	Inner vserver
}

func (s *selfDecoder) UnmarshalYAML(n *yaml.Node) error { return n.Decode(&s.Inner.Port) }

func (s selfDecoder) Validate() error {
	if s.Inner.Port > 100 {
		return errors.New("too big")
	}
	return nil
}

func TestValidateSelfDecodingAsAWhole(t *testing.T) {
	var v struct {
		S  selfDecoder            `yaml:"s"`
		M  map[string]selfDecoder `yaml:"m"`
		Is []any                  `yaml:"is"`
	}
	err := Decode("f.yaml", Path{}, parse(t, "s: 0\nm: {x: 101}\nis: [1, {a: b}]\n"), &v)
	if err == nil || err.Error() != "f.yaml:2: m.x: too big" {
		t.Errorf("Decode = %v", err)
	}
}

// A value reached through an alias is reported where the anchor is.
func TestValidateThroughAliases(t *testing.T) {
	var v struct {
		Base    vserver   `yaml:"base"`
		Servers []vserver `yaml:"servers"`
	}
	err := Decode("f.yaml", Path{}, parse(t, "base: &b\n  port: 0\nservers:\n  - *b\n"), &v)
	want := "f.yaml:2: base.port: must be at least 1, not 0\nf.yaml:2: servers[0].port: must be at least 1, not 0"
	if err == nil || err.Error() != want {
		t.Errorf("Decode = %v, want\n%s", err, want)
	}
}

func TestChecker(t *testing.T) {
	var c Checker
	if c.Err() != nil {
		t.Fatal("an empty Checker has problems")
	}
	c.Errorf("a.b", "whole key")
	c.Errorf("", "the value")
	c.ErrorfAt(P("list", 3), "index %d", 3)
	ps := AsProblems(c.Err())
	if len(ps) != 3 || ps[0].Path != P("a.b") || !ps[1].Path.IsRoot() || ps[2].Path != P("list", 3) || ps[2].Message != "index 3" {
		t.Errorf("problems %#v", ps)
	}
}
