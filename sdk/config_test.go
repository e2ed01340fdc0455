package sdk

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

type testConfig struct {
	Endpoint string   `yaml:"endpoint"`
	Refresh  Duration `yaml:"refresh"`
	Timeout  Duration `yaml:"timeout"`
	TLS      struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	Roles []struct {
		Domain string `yaml:"domain"`
		Role   string `yaml:"role"`
	} `yaml:"roles"`
	Port int `yaml:"port"`
}

// block parses text as a provider's config block at providers[1].config
// of p.yaml, as the plugin receives it.
func block(t *testing.T, text string) Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return NewConfig("p.yaml", conf.P("providers", 1, "config"), doc.Content[0])
}

func TestConfigDecode(t *testing.T) {
	cfg := block(t, `endpoint: https://zts:4443
refresh: 1m30s
tls: {cert: c.pem, key: k.pem}
roles:
  - {domain: sports, role: readers}
port: 8880
`)
	v := testConfig{Port: 1}
	if err := cfg.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.Endpoint != "https://zts:4443" || v.Refresh.Std() != 90*time.Second || v.TLS.Key != "k.pem" || v.Roles[0].Role != "readers" || v.Port != 8880 {
		t.Errorf("decoded %+v", v)
	}
}

func TestConfigDecodeEmptyKeepsDefaults(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no block":   NewConfig("p.yaml", conf.P("providers", 0, "config"), nil),
		"null block": block(t, "~\n"),
		"zero":       {},
	} {
		v := testConfig{Endpoint: "default", Port: 7}
		if err := cfg.Decode(&v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if v.Endpoint != "default" || v.Port != 7 {
			t.Errorf("%s: defaults lost: %+v", name, v)
		}
	}
}

func TestConfigDecodeStrict(t *testing.T) {
	cfg := block(t, `endpoint: https://zts
refresh: soon
tls:
  cert: c.pem
  kye: k.pem
roles:
  - domain: sports
    rol: readers
port: eighty
timeout: -1s
`)
	var v testConfig
	err := cfg.Decode(&v)
	want := []string{
		`p.yaml:2: providers[1].config.refresh: "soon" is not a duration (write e.g. 30s or 5m)`,
		`p.yaml:5: providers[1].config.tls.kye: unknown key "kye" (did you mean "key"?)`,
		`p.yaml:8: providers[1].config.roles[0].rol: unknown key "rol" (did you mean "role"?)`,
		"p.yaml:9: providers[1].config.port: cannot unmarshal !!str `eighty` into int",
		`p.yaml:10: providers[1].config.timeout: "-1s" is not a duration`,
	}
	ps := conf.AsProblems(err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(ps[i].Error(), w) {
			t.Errorf("problem %d = %q, want %q", i, ps[i].Error(), w)
		}
	}
	var many conf.Problems
	if !errors.As(err, &many) {
		t.Error("not conf.Problems")
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", "address: 1\nbogus: [x]\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "c.yaml" || !cfg.Path.IsRoot() || cfg.Node() == nil || cfg.Node().Kind != yaml.MappingNode {
		t.Errorf("config = %+v", cfg)
	}
	var v struct{ Address int }
	err = cfg.Decode(&v)
	if ps := conf.AsProblems(err); len(ps) != 1 || ps[0].Error() != `c.yaml:2: bogus: unknown key "bogus" (known keys: address)` {
		t.Errorf("Decode = %v", err)
	}
	empty, err := ParseConfig("c.yaml", "")
	if err != nil || empty.Node() != nil {
		t.Errorf("ParseConfig(\"\") = %+v, %v", empty, err)
	}
	if _, err := ParseConfig("c.yaml", "a: [\n"); err == nil || !strings.Contains(err.Error(), "parsing c.yaml") {
		t.Errorf("ParseConfig(bad) = %v", err)
	}
}

// checked reports a problem at each of its keys: Decode locates the
// problems of a Validate method in the block and prefixes them with its
// path.
type checked struct {
	keys []conf.Path
	Any  map[string]any `yaml:",inline"`
}

func (c checked) Validate() error {
	var check conf.Checker
	for _, k := range c.keys {
		check.ErrorfAt(k, "bad")
	}
	return check.Err()
}

func TestConfigDecodeValidates(t *testing.T) {
	cfg := block(t, `endpoint: https://zts
tls:
  cert: c.pem
roles:
  - domain: sports
    role: readers
  - domain: media
    role: writers
`)
	cases := []struct {
		key  conf.Path
		want string
	}{
		{conf.P("endpoint"), "p.yaml:1: providers[1].config.endpoint: bad"},
		{conf.P("tls", "cert"), "p.yaml:3: providers[1].config.tls.cert: bad"},
		{conf.P("roles", 1), "p.yaml:7: providers[1].config.roles[1]: bad"},
		{conf.P("roles", 1, "role"), "p.yaml:8: providers[1].config.roles[1].role: bad"},
		// What does not exist is at the deepest part that does: the list
		// (sdk's Config.Errorf named line 1 for this one).
		{conf.P("roles", 9), "p.yaml:4: providers[1].config.roles[9]: bad"},
		{conf.P("tls", "key"), "p.yaml:2: providers[1].config.tls.key: bad"},
		{conf.Path{}, "p.yaml:1: providers[1].config: bad"},
	}
	for _, c := range cases {
		err := cfg.Decode(&checked{keys: []conf.Path{c.key}})
		var ps conf.Problems
		if !errors.As(err, &ps) || err.Error() != c.want {
			t.Errorf("problem at %s = %v, want %s", c.key, err, c.want)
		}
	}
	// Without a block there is no line, but file and key are named.
	err := NewConfig("p.yaml", conf.P("providers", 0, "config"), nil).Decode(&checked{keys: []conf.Path{conf.P("endpoint")}})
	if err == nil || err.Error() != "p.yaml: providers[0].config.endpoint: bad" {
		t.Errorf("problem on an empty block = %v", err)
	}
}

func TestConfigDecodeReportsEveryProblemByLine(t *testing.T) {
	cfg := block(t, "a: 1\nb: 2\n")
	err := cfg.Decode(&checked{keys: []conf.Path{conf.P("b"), conf.P("a")}})
	if err == nil || err.Error() != "p.yaml:1: providers[1].config.a: bad\np.yaml:2: providers[1].config.b: bad" {
		t.Errorf("Problems = %v", err)
	}
}
