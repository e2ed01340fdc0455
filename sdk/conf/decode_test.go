package conf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// parse returns the document node of text, failing the test on a syntax
// error.
func parse(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("parsing test YAML: %v", err)
	}
	return &doc
}

// problems decodes text into v and returns the problems found.
func problems(t *testing.T, base Path, text string, v any) Problems {
	t.Helper()
	err := Decode("f.yaml", base, parse(t, text), v)
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Decode returned %T (%v), want Problems", err, err)
	}
	return ps
}

// want is a problem as a test expects it; an empty Message matches any
// message containing Contains.
type want struct {
	Line     int
	Key      string
	Contains string
}

func check(t *testing.T, got Problems, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(wants), got)
	}
	for i, w := range wants {
		p := got[i]
		if p.File != "f.yaml" || p.Line != w.Line || p.Path.String() != w.Key || !strings.Contains(p.Message, w.Contains) {
			t.Errorf("problem %d = {File:%q Line:%d Path:%q Message:%q}, want f.yaml line %d path %q message containing %q",
				i, p.File, p.Line, p.Path, p.Message, w.Line, w.Key, w.Contains)
		}
	}
}

type server struct {
	Address string        `yaml:"address"`
	Timeout string        `yaml:"timeout"`
	TLS     *tlsSettings  `yaml:"tls"`
	Roles   []role        `yaml:"roles"`
	Targets map[string]tg `yaml:"targets"`
	Port    int           `yaml:"port"`
	Debug   bool          `yaml:"debug"`
	Ignored string        `yaml:"-"`
	Plain   string        // untagged: its key is "plain"
}

type tlsSettings struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type role struct {
	Domain string `yaml:"domain"`
	Name   string `yaml:"name"`
}

type tg struct {
	Expiry int `yaml:"expiry"`
}

func TestDecodeAcceptsAValidDocument(t *testing.T) {
	var s server
	text := `
address: 127.0.0.1:8880
timeout: 3s
tls: {cert: c.pem, key: k.pem}
roles:
  - {domain: sports, name: readers}
targets:
  a: {expiry: 60}
port: 8080
debug: true
plain: yes-it-is
`
	if ps := problems(t, Path{}, text, &s); ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	if s.Address != "127.0.0.1:8880" || s.TLS == nil || s.TLS.Cert != "c.pem" || len(s.Roles) != 1 || s.Roles[0].Name != "readers" ||
		s.Targets["a"].Expiry != 60 || s.Port != 8080 || !s.Debug || s.Plain != "yes-it-is" {
		t.Errorf("decoded %+v", s)
	}
}

func TestDecodeUnknownKeys(t *testing.T) {
	cases := []struct {
		name  string
		base  Path
		text  string
		wants []want
	}{
		{
			name:  "typo gets a suggestion",
			text:  "adress: x\n",
			wants: []want{{1, "adress", `unknown key "adress" (did you mean "address"?)`}},
		},
		{
			name:  "transposition gets a suggestion",
			text:  "port: 1\ntimeuot: 3s\n",
			wants: []want{{2, "timeuot", `(did you mean "timeout"?)`}},
		},
		{
			name:  "case differences get a suggestion",
			text:  "Address: x\n",
			wants: []want{{1, "Address", `(did you mean "address"?)`}},
		},
		{
			name:  "no close key lists the known keys",
			text:  "zzzzzzzzzz: 1\n",
			wants: []want{{1, "zzzzzzzzzz", "(known keys: address, debug, plain, port, roles, targets, timeout, tls)"}},
		},
		{
			name:  "yaml:\"-\" field is not a key",
			text:  "ignored: x\n",
			wants: []want{{1, "ignored", `unknown key "ignored"`}},
		},
		{
			name:  "nested struct through a pointer",
			text:  "tls:\n  cert: c\n  cetr: d\n",
			wants: []want{{3, "tls.cetr", `(did you mean "cert"?)`}},
		},
		{
			name:  "slice elements are indexed",
			text:  "roles:\n  - domain: a\n  - domain: b\n    nmae: r\n",
			wants: []want{{4, "roles[1].nmae", `(did you mean "name"?)`}},
		},
		{
			name:  "map values carry their key",
			text:  "targets:\n  reader:\n    expiry: 1\n    expirey: 2\n",
			wants: []want{{4, "targets.reader.expirey", `(did you mean "expiry"?)`}},
		},
		{
			name:  "base prefixes every key",
			base:  P("providers", 1, "config"),
			text:  "adress: x\n",
			wants: []want{{1, "providers[1].config.adress", "unknown key"}},
		},
		{
			name:  "every unknown key, sorted by line",
			text:  "tls:\n  foo: 1\nbar: 2\nroles:\n  - baz: 3\n",
			wants: []want{{2, "tls.foo", `"foo"`}, {3, "bar", `"bar"`}, {5, "roles[0].baz", `"baz"`}},
		},
		{
			name:  "alias to a mapping is checked where the anchor is",
			text:  "roles:\n  - &r {domain: a, bogus: 1}\n  - *r\n",
			wants: []want{{2, "roles[0].bogus", `"bogus"`}, {2, "roles[1].bogus", `"bogus"`}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s server
			check(t, problems(t, c.base, c.text, &s), c.wants...)
		})
	}
}

func TestDecodeMergeKeyIsNotAnUnknownKey(t *testing.T) {
	text := `
defaults: &d {domain: sports}
roles:
  - <<: *d
    name: readers
`
	var v struct {
		Defaults role   `yaml:"defaults"`
		Roles    []role `yaml:"roles"`
	}
	if ps := problems(t, Path{}, text, &v); ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	if v.Roles[0].Domain != "sports" || v.Roles[0].Name != "readers" {
		t.Errorf("merge not applied: %+v", v.Roles)
	}
}

type common struct {
	Name string `yaml:"name"`
}

type inlineMap struct {
	Kind string         `yaml:"kind"`
	Rest map[string]any `yaml:",inline"`
}

// Common is exported: yaml.v3 cannot set an embedded unexported struct
// that is not inline.
type Common struct {
	Name string `yaml:"name"`
}

type embeddedNotInline struct {
	Common
	Kind string `yaml:"kind"`
}

func TestDecodeInline(t *testing.T) {
	t.Run("inline struct fields are keys of the outer mapping", func(t *testing.T) {
		type outer struct {
			Common `yaml:",inline"`
			Kind   string `yaml:"kind"`
		}
		var v outer
		check(t, problems(t, Path{}, "name: a\nkind: b\nnmae: c\n", &v), want{3, "nmae", `(did you mean "name"?)`})
		if v.Name != "a" {
			t.Errorf("decoded %+v", v)
		}
	})
	t.Run("inline embedded unexported struct", func(t *testing.T) {
		type outer struct {
			common `yaml:",inline"`
			Kind   string `yaml:"kind"`
		}
		var v outer
		check(t, problems(t, Path{}, "name: a\nkind: b\nnmae: c\n", &v), want{3, "nmae", `(did you mean "name"?)`})
		if v.Name != "a" {
			t.Errorf("decoded %+v", v)
		}
	})
	t.Run("inline pointer to struct", func(t *testing.T) {
		type outer struct {
			*Common `yaml:",inline"`
			Kind    string `yaml:"kind"`
		}
		var v outer
		check(t, problems(t, Path{}, "name: a\nkind: b\nnmae: c\n", &v), want{3, "nmae", `(did you mean "name"?)`})
	})
	t.Run("inline map accepts any key", func(t *testing.T) {
		var v inlineMap
		if ps := problems(t, Path{}, "kind: a\nanything: 1\nelse: [2]\n", &v); ps != nil {
			t.Fatalf("unexpected problems: %v", ps)
		}
		if v.Kind != "a" || v.Rest["anything"] != 1 {
			t.Errorf("decoded %+v", v)
		}
	})
	t.Run("embedded struct without inline is a key of its own", func(t *testing.T) {
		var v embeddedNotInline
		if ps := problems(t, Path{}, "common: {name: x}\nkind: k\n", &v); ps != nil {
			t.Fatalf("unexpected problems: %v", ps)
		}
		check(t, problems(t, Path{}, "name: x\n", &v), want{1, "name", `unknown key "name"`})
	})
}

// upper has its own UnmarshalYAML (pointer receiver): its keys are its
// business.
type upper struct{ Got map[string]string }

func (u *upper) UnmarshalYAML(n *yaml.Node) error { return n.Decode(&u.Got) }

// valueUnmarshaler has a value-receiver UnmarshalYAML.
type valueUnmarshaler struct{ M map[string]string }

func (valueUnmarshaler) UnmarshalYAML(*yaml.Node) error { return nil }

// legacy implements yaml.v3's obsolete (v2-style) unmarshaler interface.
type legacy struct{ Got map[string]string }

func (l *legacy) UnmarshalYAML(unmarshal func(any) error) error { return unmarshal(&l.Got) }

func TestDecodeLeavesUnmarshalersAndNodesAlone(t *testing.T) {
	var v struct {
		U     upper            `yaml:"u"`
		UP    *upper           `yaml:"up"`
		V     valueUnmarshaler `yaml:"v"`
		L     legacy           `yaml:"l"`
		N     yaml.Node        `yaml:"n"`
		NP    *yaml.Node       `yaml:"np"`
		Slice []upper          `yaml:"slice"`
	}
	text := `
u: {any: key}
up: {other: key}
v: {free: form}
l: {legacy: key}
n: {whatever: [1, 2], deep: {x: y}}
np: {also: free}
slice:
  - {k: v}
`
	if ps := problems(t, Path{}, text, &v); ps != nil {
		t.Fatalf("unexpected problems: %v", ps)
	}
	if v.U.Got["any"] != "key" || v.UP.Got["other"] != "key" || v.L.Got["legacy"] != "key" || v.Slice[0].Got["k"] != "v" {
		t.Errorf("unmarshalers not called: %+v", v)
	}
	if v.N.Kind != yaml.MappingNode || v.N.Line != 6 {
		t.Errorf("node field: %+v", v.N)
	}
}

func TestDecodeTypeErrors(t *testing.T) {
	cases := []struct {
		name  string
		base  Path
		text  string
		wants []want
	}{
		{
			name:  "scalar of the wrong type",
			text:  "address: a\nport: eighty\n",
			wants: []want{{2, "port", "cannot unmarshal !!str `eighty` into int"}},
		},
		{
			name:  "with a base path",
			base:  P("providers", 0, "config"),
			text:  "port: eighty\n",
			wants: []want{{1, "providers[0].config.port", "cannot unmarshal !!str `eighty` into int"}},
		},
		{
			name:  "nested and in a list",
			text:  "roles:\n  - domain: a\n  - domain: [x]\n",
			wants: []want{{3, "roles[1].domain", "cannot unmarshal !!seq into string"}},
		},
		{
			name:  "a sequence where a mapping belongs, flow style",
			text:  "tls: [a, b]\n",
			wants: []want{{1, "tls", "cannot unmarshal !!seq into conf.tlsSettings"}},
		},
		{
			name:  "a sequence where a mapping belongs, block style",
			text:  "tls:\n  - a\n",
			wants: []want{{2, "tls", "cannot unmarshal !!seq into conf.tlsSettings"}},
		},
		{
			name:  "the right key of a flow mapping",
			text:  "targets: {a: {expiry: 1}, b: {expiry: soon}}\n",
			wants: []want{{1, "targets.b.expiry", "cannot unmarshal !!str `soon` into int"}},
		},
		{
			name:  "long values are abbreviated by yaml.v3 and still found",
			text:  "port: 1\ndebug: not-a-boolean-at-all\n",
			wants: []want{{2, "debug", "cannot unmarshal !!str `not-a-b...` into bool"}},
		},
		{
			name:  "duplicate key",
			text:  "port: 1\nport: 2\n",
			wants: []want{{2, "port", `mapping key "port" already defined at line 1`}},
		},
		{
			name: "every type error with the unknown keys, by line",
			text: "port: x\nbogus: 1\ndebug: maybe\n",
			wants: []want{
				{1, "port", "cannot unmarshal !!str `x` into int"},
				{2, "bogus", "unknown key"},
				{3, "debug", "cannot unmarshal !!str `maybe` into bool"},
			},
		},
		{
			name:  "document that is not a mapping",
			text:  "- a\n- b\n",
			wants: []want{{1, "", "cannot unmarshal !!seq into conf.server"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s server
			check(t, problems(t, c.base, c.text, &s), c.wants...)
		})
	}
}

// duration fails the way a custom type should: with a *yaml.TypeError, so
// that decoding goes on and every problem is reported.
type duration struct{ s string }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if !strings.HasSuffix(n.Value, "s") {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration", n.Line, n.Value)}}
	}
	d.s = n.Value
	return nil
}

func TestDecodeUnmarshalerErrorsNameTheKey(t *testing.T) {
	var v struct {
		Timeout duration `yaml:"timeout"`
		Nested  struct {
			Wait duration `yaml:"wait"`
		} `yaml:"nested"`
	}
	check(t, problems(t, Path{}, "timeout: 3m\nnested:\n  wait: 1h\n", &v),
		want{1, "timeout", `"3m" is not a duration`},
		want{3, "nested.wait", `"1h" is not a duration`})
}

func TestDecodePlainErrorWithoutLine(t *testing.T) {
	var v failing
	ps := problems(t, Path{}, "a: 1\n", &v)
	if len(ps) != 1 || ps[0].Line != 0 || ps[0].File != "f.yaml" || ps[0].Message != "no line here" {
		t.Fatalf("got %#v", ps)
	}
}

type failing struct{}

func (*failing) UnmarshalYAML(*yaml.Node) error { return errors.New("no line here") }

func TestDecodeNilNode(t *testing.T) {
	var s server
	if err := Decode("f.yaml", Path{}, nil, &s); err != nil {
		t.Fatalf("Decode(nil) = %v", err)
	}
}

func TestProblemError(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Path: P("a", "b"), Message: "bad"}, "f.yaml:3: a.b: bad"},
		{Problem{File: "f.yaml", Line: 3, Column: 7, Message: "bad byte"}, "f.yaml:3:7: bad byte"},
		{Problem{File: "f.yaml", Column: 7, Message: "bad"}, "f.yaml: bad"},
		{Problem{File: "f.yaml", Path: P("a"), Message: "bad"}, "f.yaml: a: bad"},
		{Problem{Line: 3, Message: "bad"}, "3: bad"},
		{Problem{Path: P("a"), Message: "bad"}, "a: bad"},
		{Problem{Message: "bad"}, "bad"},
	}
	for _, c := range cases {
		if got := c.p.Error(); got != c.want {
			t.Errorf("%+v.Error() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestProblems(t *testing.T) {
	if err := Problems(nil).Err(); err != nil {
		t.Errorf("empty Err() = %v, want nil", err)
	}
	ps := Problems{
		{File: "f", Line: 9, Message: "last"},
		{File: "f", Line: 2, Message: "first"},
		{File: "f", Line: 2, Message: "second"},
	}
	err := ps.Err()
	if got, want := err.Error(), "f:2: first\nf:2: second\nf:9: last"; got != want {
		t.Errorf("Err().Error() = %q, want %q", got, want)
	}

	p := &Problem{File: "f", Line: 1, Message: "m"}
	wrapped := fmt.Errorf("loading: %w", err)
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"Problems", err, 3},
		{"wrapped Problems", wrapped, 3},
		{"Problem", p, 1},
		{"wrapped Problem", fmt.Errorf("x: %w", p), 1},
	} {
		if got := AsProblems(c.err); len(got) != c.want {
			t.Errorf("AsProblems(%s) has %d problems, want %d", c.name, len(got), c.want)
		}
	}
	if got := AsProblems(fmt.Errorf("x: %w", p)); got[0] != p {
		t.Errorf("AsProblems lost the problem: %v", got)
	}
	plain := AsProblems(errors.New("plain"))
	if len(plain) != 1 || plain[0].Message != "plain" || plain[0].Line != 0 || plain[0].File != "" {
		t.Errorf("AsProblems(plain) = %#v", plain)
	}
}

func TestSuggest(t *testing.T) {
	fields, _ := fieldsOf(reflect.TypeFor[server]())
	known := sortedKeys(fields)
	cases := map[string]string{
		"adress":  "address",
		"ADDRESS": "address",
		"prot":    "port",
		"tsl":     "tls",
		"rolse":   "roles",
		"x":       "",
		"":        "",
		"zzzzz":   "",
		"debugge": "debug",
	}
	for key, want := range cases {
		if got := suggest(key, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"name", "nmae", 2},
		{"same", "same", 0},
	}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}
