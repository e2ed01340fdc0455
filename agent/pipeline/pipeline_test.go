package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// env is a fake environment for ${VAR} lookups.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// fixture makes a directory holding p.yaml's neighbours:
//
//	bin/sia-plugin-a, bin/sia-plugin-b  executable
//	bin/noexec                          not executable
//	bin/adir/                           a directory
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(filepath.Join(bin, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"sia-plugin-a": 0o755, "sia-plugin-b": 0o755, "noexec": 0o644} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// parse parses text as <dir>/p.yaml, named "p.yaml" in errors. A nil
// opts.Lookup means an empty environment, not the process's.
func parse(t *testing.T, dir, text string, opts Options) (*Pipeline, error) {
	t.Helper()
	if opts.Lookup == nil {
		opts.Lookup = env{}.lookup
	}
	return Parse("p.yaml", filepath.Join(dir, "p.yaml"), []byte(text), opts)
}

func mustParse(t *testing.T, dir, text string, opts Options) *Pipeline {
	t.Helper()
	p, err := parse(t, dir, text, opts)
	if err != nil {
		t.Fatalf("Parse failed:\n%v", err)
	}
	return p
}

// header is the start of a valid pipeline whose bare plugin names resolve
// in the fixture's bin/.
const header = "version: 1\nagent:\n  plugin_dir: bin\n"

func TestParseDesignExample(t *testing.T) {
	dir := fixture(t)
	text := `version: 1
agent:
  log_level: INFO
  log_format: json
  plugin_dir: bin
  status_file: run/status.json
  shutdown_timeout: 45s
providers:
  - name: certificate
    plugin: sia-plugin-a
    sha256: "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
    enabled: ${CERT_ENABLED:-true}
    config: {endpoint: "https://zts:4443", roles: [a, b]}
  - name: token
    plugin: ./bin/sia-plugin-b
    shutdown_timeout: 5s
  - name: metrics
    plugin: sia-plugin-missing
    enabled: false
profiles:
  dev:
    providers:
      metrics: { enabled: false }
`
	p := mustParse(t, dir, text, Options{})
	if p.File != filepath.Join(dir, "p.yaml") || p.Profile != "" {
		t.Errorf("File, Profile = %q, %q", p.File, p.Profile)
	}
	wantAgent := Agent{
		LogLevel:            "info",
		LogFormat:           "json",
		PluginDir:           "bin",
		StatusFile:          filepath.Join(dir, "run/status.json"),
		ShutdownTimeout:     Duration(45 * time.Second),
		PingInterval:        Duration(DefaultPingInterval),
		UnresponsiveTimeout: Duration(DefaultUnresponsiveTimeout),
	}
	if p.Agent != wantAgent {
		t.Errorf("Agent = %+v, want %+v", p.Agent, wantAgent)
	}
	if len(p.Providers) != 3 {
		t.Fatalf("got %d providers, want 3", len(p.Providers))
	}
	cert, token, metrics := p.Providers[0], p.Providers[1], p.Providers[2]
	if cert.Name != "certificate" || cert.Plugin != "sia-plugin-a" || cert.Path != filepath.Join(dir, "bin", "sia-plugin-a") ||
		cert.SHA256 != strings.ToLower("ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789") ||
		!cert.Enabled || cert.ShutdownTimeout != 45*time.Second || cert.ConfigPath.String() != "providers[0].config" || cert.Line != 9 {
		t.Errorf("certificate = %+v", cert)
	}
	var cfg struct {
		Endpoint string   `yaml:"endpoint"`
		Roles    []string `yaml:"roles"`
	}
	if cert.Config == nil || cert.Config.Decode(&cfg) != nil || cfg.Endpoint != "https://zts:4443" || len(cfg.Roles) != 2 || cert.Config.Line != 13 {
		t.Errorf("certificate config = %+v (node %+v)", cfg, cert.Config)
	}
	if token.Path != filepath.Join(dir, "bin", "sia-plugin-b") || token.ShutdownTimeout != 5*time.Second || token.Config != nil || token.Line != 14 {
		t.Errorf("token = %+v", token)
	}
	if metrics.Enabled || metrics.Path != "" {
		t.Errorf("metrics (disabled, plugin missing: not resolved) = %+v", metrics)
	}
	var names []string
	for _, pr := range p.Enabled() {
		names = append(names, pr.Name)
	}
	if got := strings.Join(names, ","); got != "certificate,token" {
		t.Errorf("Enabled() = %s", got)
	}
}

func TestParseDefaults(t *testing.T) {
	dir := fixture(t)
	p := mustParse(t, dir, "version: 1\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n", Options{DefaultPluginDir: filepath.Join(dir, "bin")})
	want := Agent{LogLevel: DefaultLogLevel, LogFormat: DefaultLogFormat, ShutdownTimeout: Duration(DefaultShutdownTimeout),
		PingInterval: Duration(DefaultPingInterval), UnresponsiveTimeout: Duration(DefaultUnresponsiveTimeout)}
	if p.Agent != want {
		t.Errorf("Agent = %+v, want %+v", p.Agent, want)
	}
	pr := p.Providers[0]
	if !pr.Enabled || pr.ShutdownTimeout != DefaultShutdownTimeout || pr.Path != filepath.Join(dir, "bin", "sia-plugin-a") || pr.Config != nil {
		t.Errorf("provider = %+v", pr)
	}
}

func TestExpand(t *testing.T) {
	e := env{"SET": "value", "EMPTY": "", "NL": "a\nb", "CR": "a\rb", "DOLLAR": "${SET}", "_u9": "u"}
	cases := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${SET}", want: "value"},
		{in: "pre-${SET}-post", want: "pre-value-post"},
		{in: "${SET}${SET}", want: "valuevalue"},
		{in: "${_u9}", want: "u"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET:-dflt}", want: "dflt"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${SET:-dflt}", want: "value"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-a:b-c}", want: "a:b-c"},
		{in: "${SET:?needed}", want: "value"},
		{in: "$$", want: "$"},
		{in: "$${SET}", want: "${SET}"},
		{in: "$$$${SET}", want: "$${SET}"},
		{in: "$$${SET}", want: "$value"},
		{in: "cost: 5$", want: "cost: 5$"},
		{in: "$SET", want: "$SET"},
		{in: "${DOLLAR}", want: "${SET}"}, // a value is not expanded again
		{in: "${UNSET}", err: "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{in: "${UNSET:?set it to the ZTS URL}", err: "environment variable UNSET: set it to the ZTS URL"},
		{in: "${EMPTY:?must not be empty}", err: "environment variable EMPTY: must not be empty"},
		{in: "${UNSET:?}", err: "environment variable UNSET: is required"},
		{in: "${SET", err: `unterminated variable reference "${SET" (write $$ for a literal $)`},
		{in: "${}", err: `invalid variable name "" in ${}`},
		{in: "${1X}", err: `invalid variable name "1X" in ${1X}`},
		{in: "${A-B}", err: `invalid variable name "A-B"`},
		{in: "${A B}", err: `invalid variable name "A B"`},
		{in: "${SET:=x}", err: "unsupported expansion ${SET:=x} (want ${VAR}, ${VAR:-default} or ${VAR:?message})"},
		{in: "${SET:x}", err: "unsupported expansion ${SET:x}"},
		{in: "${NL}", err: `variable in "${NL}" expands to a value with a line break, which is not allowed`},
		{in: "x${CR}", err: "line break"},
		{in: "${UNSET:-a\nb}", err: "line break"},
	}
	for _, c := range cases {
		got, err := expand(c.in, e.lookup)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("expand(%q) failed: %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("expand(%q) = %q, %v; want error containing %q", c.in, got, err, c.err)
		}
	}
}

func TestExpansionInPipeline(t *testing.T) {
	dir := fixture(t)
	e := env{
		"NAME":    "certificate",
		"PLUGIN":  "sia-plugin-a",
		"ON":      "true",
		"OFF":     "false",
		"ADDR":    "127.0.0.1:8880",
		"KEY":     "address",
		"YAMLISH": "{a: [1, 2]}",
		"NUM":     "42",
		"TIMEOUT": "30s",
	}
	text := header + `providers:
  - name: ${NAME}
    plugin: ${PLUGIN}
    enabled: ${ON}
    shutdown_timeout: ${TIMEOUT}
    config:
      ${KEY}: ${ADDR}
      plain_num: ${NUM}
      quoted_num: "${NUM}"
      single: '${NUM}'
      tagged: !!str ${NUM}
      literal: |
        ${NUM}
      yamlish: ${YAMLISH}
      escaped: $${NAME} costs $$5
      list:
        - ${NAME}
        - "${ON}"
        - ${ON}
  - name: b
    plugin: sia-plugin-b
    enabled: ${MISSING:-false}
`
	p := mustParse(t, dir, text, Options{Lookup: e.lookup})
	cert := p.Providers[0]
	if cert.Name != "certificate" || cert.Plugin != "sia-plugin-a" || !cert.Enabled || cert.ShutdownTimeout != 30*time.Second {
		t.Errorf("provider = %+v", cert)
	}
	if p.Providers[1].Enabled {
		t.Errorf("plain ${MISSING:-false} did not become the boolean false")
	}
	var cfg map[string]any
	if err := cert.Config.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"${KEY}":     "127.0.0.1:8880", // keys are never expanded
		"plain_num":  42,               // a plain scalar resolves as written in place
		"quoted_num": "42",             // a quoted one stays a string
		"single":     "42",
		"tagged":     "42", // an explicit tag is kept
		"literal":    "42\n",
		"yamlish":    "{a: [1, 2]}", // no YAML structure can be injected
		"escaped":    "${NAME} costs $5",
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("config[%q] = %#v (%T), want %#v (%T)", k, cfg[k], cfg[k], v, v)
		}
	}
	list, _ := cfg["list"].([]any)
	if len(list) != 3 || list[0] != "certificate" || list[1] != "true" || list[2] != true {
		t.Errorf("config.list = %#v", cfg["list"])
	}
}

func TestExpansionErrorsNameFileLineAndKey(t *testing.T) {
	dir := fixture(t)
	text := header + `providers:
  - name: a
    plugin: sia-plugin-a
    config:
      endpoint: ${ZTS_URL:?set the ZTS endpoint}
      list:
        - ok
        - ${UNSET}
      nested: {deep: "${NL}"}
`
	_, err := parse(t, dir, text, Options{Lookup: env{"NL": "x\ny"}.lookup})
	wantAll(t, err,
		"p.yaml:8: providers[0].config.endpoint: environment variable ZTS_URL: set the ZTS endpoint",
		"p.yaml:11: providers[0].config.list[1]: environment variable UNSET is not set",
		`p.yaml:12: providers[0].config.nested.deep: variable in "${NL}" expands to a value with a line break`,
	)
}

func TestExplicitStrTagIsKept(t *testing.T) {
	// enabled: !!str ${X} is a string, as enabled: !!str true would be: a
	// type error, not a silently accepted boolean.
	dir := fixture(t)
	_, err := parse(t, dir, header+"providers:\n  - name: a\n    plugin: sia-plugin-a\n    enabled: !!str ${X:-true}\n", Options{})
	wantAll(t, err, "p.yaml:7: providers[0].enabled: cannot unmarshal !!str `true` into bool")
}

// wantAll asserts that err is a conf problem list whose text holds
// every one of wants, and nothing else.
func wantAll(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want:\n%s", strings.Join(wants, "\n"))
	}
	ps := conf.AsProblems(err)
	if len(ps) == 1 && ps[0].File == "" {
		t.Fatalf("error is not a conf problem: %T %v", err, err)
	}
	msg := err.Error()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q; got:\n%s", w, msg)
		}
	}
	if len(ps) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%s", len(ps), len(wants), msg)
	}
}

func TestParseErrors(t *testing.T) {
	dir := fixture(t)
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		name  string
		text  string
		opts  Options
		wants []string
	}{
		{
			name:  "empty",
			text:  "",
			wants: []string{"p.yaml: the pipeline file is empty"},
		},
		{
			name:  "comments only",
			text:  "# nothing here\n\n",
			wants: []string{"p.yaml: the pipeline file is empty"},
		},
		{
			name:  "document marker only",
			text:  "---\n",
			wants: []string{"p.yaml: the pipeline file is empty"},
		},
		{
			name:  "two documents",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n---\nversion: 1\n",
			wants: []string{"p.yaml:6: the pipeline file holds more than one YAML document"},
		},
		{
			name:  "broken second document",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n---\nfoo: [\n",
			wants: []string{"p.yaml:7: YAML syntax: did not find expected node content"},
		},
		{
			name:  "syntax error",
			text:  header + "providers:\n  - name: a\n   plugin: x\n",
			wants: []string{"p.yaml:5: YAML syntax: did not find expected '-' indicator"},
		},
		{
			name:  "tab indentation",
			text:  header + "providers:\n\t- name: a\n",
			wants: []string{"p.yaml:5: YAML syntax: found character that cannot start any token"},
		},
		{
			name:  "not a mapping",
			text:  "- version: 1\n",
			wants: []string{"p.yaml:1: cannot unmarshal !!seq into pipeline.fileShape"},
		},
		{
			name:  "version missing",
			text:  "agent:\n  plugin_dir: bin\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{"p.yaml:1: version: missing: write `version: 1` at the top of the file"},
		},
		{
			name:  "version wrong",
			text:  "agent:\n  plugin_dir: bin\nversion: 2\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{"p.yaml:3: version: unsupported version 2 (this agent reads version 1)"},
		},
		{
			name:  "version not a number",
			text:  "version: one\nagent:\n  plugin_dir: bin\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{"p.yaml:1: version: cannot unmarshal !!str `one` into int"},
		},
		{
			name:  "unknown top-level key",
			text:  header + "provider:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{`p.yaml:4: provider: unknown key "provider" (did you mean "providers"?)`},
		},
		{
			name:  "unknown agent key",
			text:  "version: 1\nagent:\n  plugin_dir: bin\n  loglevel: debug\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{`p.yaml:4: agent.loglevel: unknown key "loglevel" (did you mean "log_level"?)`},
		},
		{
			name:  "unknown provider key",
			text:  header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n  - name: b\n    plugin: sia-plugin-b\n    confg: {}\n",
			wants: []string{`p.yaml:9: providers[1].confg: unknown key "confg" (did you mean "config"?)`},
		},
		{
			name:  "unknown profile key",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    provider:\n      a: {enabled: false}\n",
			wants: []string{`p.yaml:8: profiles.dev.provider: unknown key "provider" (did you mean "providers"?)`},
		},
		{
			name:  "unknown profile provider key",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    providers:\n      a: {enable: false}\n",
			wants: []string{`p.yaml:9: profiles.dev.providers.a.enable: unknown key "enable" (did you mean "enabled"?)`},
		},
		{
			name:  "unknown profile agent key",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    agent:\n      plugin_dir: x\n",
			wants: []string{`p.yaml:9: profiles.dev.agent.plugin_dir: unknown key "plugin_dir"`},
		},
		{
			name:  "enabled not a boolean",
			text:  header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    enabled: maybe\n",
			wants: []string{"p.yaml:7: providers[0].enabled: cannot unmarshal !!str `maybe` into bool"},
		},
		{
			name:  "quoted expansion stays a string",
			text:  header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    enabled: \"${ON:-true}\"\n",
			wants: []string{"p.yaml:7: providers[0].enabled: cannot unmarshal !!str `true` into bool"},
		},
		{
			name:  "providers not a list",
			text:  header + "providers:\n  a: {plugin: sia-plugin-a}\n",
			wants: []string{"p.yaml:5: providers: cannot unmarshal !!map into []pipeline.providerShape"},
		},
		{
			name: "bad durations, all of them",
			text: "version: 1\nagent:\n  plugin_dir: bin\n  shutdown_timeout: soon\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n    shutdown_timeout: -1s\n    enabled: maybe\n",
			wants: []string{
				`p.yaml:4: agent.shutdown_timeout: "soon" is not a duration (write e.g. 30s or 5m)`,
				`p.yaml:8: providers[0].shutdown_timeout: "-1s" is not a duration`,
				"p.yaml:9: providers[0].enabled: cannot unmarshal",
			},
		},
		{
			name:  "start jitter beyond its bound",
			text:  "version: 1\nagent:\n  plugin_dir: bin\n  start_jitter: 2h\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n",
			wants: []string{"p.yaml:4: agent.start_jitter: 2h is not between 0 and 1h"},
		},
		{
			name:  "zero provider shutdown timeout",
			text:  header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    shutdown_timeout: 0s\n",
			wants: []string{"p.yaml:7: providers[0].shutdown_timeout: must be more than 0"},
		},
		{
			name:  "duplicate key",
			text:  header + "providers:\n  - name: a\n    name: b\n    plugin: sia-plugin-a\n",
			wants: []string{`p.yaml:6: providers[0].name: mapping key "name" already defined at line 5`},
		},
		{
			name:  "unknown log level",
			text:  "version: 1\nagent:\n  plugin_dir: bin\n  log_level: loud\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{`p.yaml:4: agent.log_level: unknown level "loud" (want trace, debug, info, warn or error)`},
		},
		{
			name:  "unknown log format",
			text:  "version: 1\nagent:\n  plugin_dir: bin\n  log_format: xml\nproviders:\n  - {name: a, plugin: sia-plugin-a}\n",
			wants: []string{`p.yaml:4: agent.log_format: unknown format "xml" (want text or json)`},
		},
		{
			name:  "no providers key",
			text:  header,
			wants: []string{"p.yaml:1: providers: no providers: list at least one under `providers:`"},
		},
		{
			name:  "empty providers list",
			text:  header + "providers: []\n",
			wants: []string{"p.yaml:4: providers: no providers"},
		},
		{
			name:  "no enabled provider",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a, enabled: false}\n  - {name: b, plugin: sia-plugin-b, enabled: false}\n",
			wants: []string{"p.yaml:4: providers: no provider is enabled"},
		},
		{
			name:  "missing name",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n  - plugin: sia-plugin-b\n",
			wants: []string{"p.yaml:6: providers[1]: missing name: every provider needs a unique `name`"},
		},
		{
			name: "invalid name",
			text: header + "providers:\n  - name: -a\n    plugin: sia-plugin-a\n  - name: 'has space'\n    plugin: sia-plugin-b\n",
			wants: []string{
				`p.yaml:5: providers[0].name: invalid name "-a"`,
				`p.yaml:7: providers[1].name: invalid name "has space": use letters, digits, '.', '_' and '-', starting with a letter or digit`,
			},
		},
		{
			name:  "duplicate name",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n  - {name: b, plugin: sia-plugin-b}\n  - name: a\n    plugin: sia-plugin-b\n",
			wants: []string{`p.yaml:7: providers[2].name: duplicate name "a" (also used by providers[0])`},
		},
		{
			name: "bad sha256",
			text: header + "providers:\n  - {name: a, plugin: sia-plugin-a, sha256: abc}\n  - name: b\n    plugin: sia-plugin-b\n    sha256: " + sha[:63] + "g\n  - {name: c, plugin: sia-plugin-b, sha256: " + sha + "}\n",
			wants: []string{
				`p.yaml:5: providers[0].sha256: "abc" is not a SHA-256 digest (64 hex digits; get one with ` + "`sha256sum`)",
				`p.yaml:8: providers[1].sha256: "` + sha[:63] + `g" is not a SHA-256 digest`,
			},
		},
		{
			name:  "missing plugin",
			text:  header + "providers:\n  - name: a\n",
			wants: []string{"p.yaml:5: providers[0]: missing plugin: name a built-in provider, e.g. `plugin: cert`, or a plugin binary"},
		},
		{
			name:  "plugin not found",
			text:  header + "providers:\n  - name: a\n    plugin: sia-plugin-nope\n",
			wants: []string{`p.yaml:6: providers[0].plugin: plugin "sia-plugin-nope" not found at ` + filepath.Join(dir, "bin", "sia-plugin-nope") + " (build it with `make build`, or set agent.plugin_dir)"},
		},
		{
			name:  "plugin path not found",
			text:  header + "providers:\n  - name: a\n    plugin: ../elsewhere/x\n",
			wants: []string{`p.yaml:6: providers[0].plugin: plugin "../elsewhere/x" not found at ` + filepath.Join(filepath.Dir(dir), "elsewhere", "x")},
		},
		{
			name:  "plugin is a directory",
			text:  header + "providers:\n  - name: a\n    plugin: adir\n",
			wants: []string{`p.yaml:6: providers[0].plugin: plugin "adir" at ` + filepath.Join(dir, "bin", "adir") + " is a directory, not a binary"},
		},
		{
			name:  "plugin not executable",
			text:  header + "providers:\n  - name: a\n    plugin: bin/noexec\n",
			wants: []string{`p.yaml:6: providers[0].plugin: plugin "bin/noexec" at ` + filepath.Join(dir, "bin", "noexec") + " is not executable (chmod +x it)"},
		},
		{
			name:  "bare plugin name without a plugin dir",
			text:  "version: 1\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n",
			wants: []string{`p.yaml:4: providers[0].plugin: cannot resolve bare plugin name "sia-plugin-a": set agent.plugin_dir`},
		},
		{
			name:  "unknown profile",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  prod: {}\n  dev: {}\n",
			opts:  Options{Profile: "staging"},
			wants: []string{`p.yaml:6: profiles: profile "staging" not found (defined: dev, prod)`},
		},
		{
			name:  "profile without profiles",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n",
			opts:  Options{Profile: "dev"},
			wants: []string{`p.yaml:1: profiles: profile "dev" not found: the file defines no profiles`},
		},
		{
			name:  "profile names an unknown provider",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    providers:\n      a: {enabled: true}\n      zz: {enabled: false}\n",
			opts:  Options{Profile: "dev"},
			wants: []string{`p.yaml:10: profiles.dev.providers.zz: no provider named "zz" in the pipeline`},
		},
		{
			name:  "profile names an unknown provider with dots in names",
			text:  header + "providers:\n  - {name: a.v1, plugin: sia-plugin-a}\nprofiles:\n  eu.prod:\n    providers:\n      a.v1: {enabled: true}\n      a.v2: {enabled: false}\n",
			opts:  Options{Profile: "eu.prod"},
			wants: []string{`p.yaml:10: profiles.eu.prod.providers.a.v2: no provider named "a.v2" in the pipeline`},
		},
		{
			name:  "profile disables every provider",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    providers:\n      a: {enabled: false}\n",
			opts:  Options{Profile: "dev"},
			wants: []string{`p.yaml:4: providers: no provider is enabled with profile "dev"`},
		},
		{
			name:  "profile enables a provider whose plugin is missing",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\n  - {name: b, plugin: sia-plugin-nope, enabled: false}\nprofiles:\n  dev:\n    providers:\n      b: {enabled: true}\n",
			opts:  Options{Profile: "dev"},
			wants: []string{`p.yaml:6: providers[1].plugin: plugin "sia-plugin-nope" not found`},
		},
		{
			name:  "unknown log level from a profile",
			text:  header + "providers:\n  - {name: a, plugin: sia-plugin-a}\nprofiles:\n  dev:\n    agent: {log_level: chatty}\n",
			opts:  Options{Profile: "dev"},
			wants: []string{`agent.log_level: unknown level "chatty"`},
		},
		{
			name: "every problem at once",
			text: "version: 3\nagent:\n  plugin_dir: bin\n  log_level: loud\nproviders:\n  - {name: a, plugin: sia-plugin-nope}\n  - {name: a, plugin: sia-plugin-a, sha256: xyz}\n",
			wants: []string{
				"p.yaml:1: version: unsupported version 3",
				"p.yaml:4: agent.log_level: unknown level",
				`p.yaml:6: providers[0].plugin: plugin "sia-plugin-nope" not found`,
				`p.yaml:7: providers[1].name: duplicate name "a"`,
				`p.yaml:7: providers[1].sha256: "xyz" is not a SHA-256 digest`,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parse(t, dir, c.text, c.opts)
			if p != nil && err == nil {
				t.Fatalf("Parse succeeded, want:\n%s", strings.Join(c.wants, "\n"))
			}
			wantAll(t, err, c.wants...)
		})
	}
}

func TestProfiles(t *testing.T) {
	dir := fixture(t)
	text := header + `providers:
  - name: certificate
    plugin: sia-plugin-a
    config:
      endpoint: https://zts
      tls: {cert: c.pem, key: k.pem}
      roles: [a, b]
  - name: metrics
    plugin: sia-plugin-b
  - name: debug
    plugin: sia-plugin-missing
    enabled: false
profiles:
  dev:
    agent: {log_level: DEBUG, log_format: json}
    providers:
      certificate:
        config:
          endpoint: https://zts.dev
          tls: {key: dev.pem}
          roles: [c]
          extra: 1
      metrics: {enabled: false, config: {address: ":1"}}
  lean:
    providers:
      metrics:
  debugging:
    providers:
      debug: {enabled: true}
`
	t.Run("no profile", func(t *testing.T) {
		p := mustParse(t, dir, text, Options{})
		if p.Agent.LogLevel != "info" || !p.Providers[1].Enabled || p.Providers[1].Config != nil {
			t.Errorf("pipeline = %+v, metrics = %+v", p.Agent, p.Providers[1])
		}
	})
	t.Run("dev", func(t *testing.T) {
		p := mustParse(t, dir, text, Options{Profile: "dev"})
		if p.Profile != "dev" || p.Agent.LogLevel != "debug" || p.Agent.LogFormat != "json" {
			t.Errorf("Profile %q, Agent %+v", p.Profile, p.Agent)
		}
		var cfg map[string]any
		if err := p.Providers[0].Config.Decode(&cfg); err != nil {
			t.Fatal(err)
		}
		tls, _ := cfg["tls"].(map[string]any)
		roles, _ := cfg["roles"].([]any)
		if cfg["endpoint"] != "https://zts.dev" || cfg["extra"] != 1 || tls["cert"] != "c.pem" || tls["key"] != "dev.pem" || len(roles) != 1 || roles[0] != "c" {
			t.Errorf("merged config = %#v", cfg)
		}
		m := p.Providers[1]
		if m.Enabled || m.Config == nil {
			t.Errorf("metrics = %+v", m)
		}
		if got := len(p.Enabled()); got != 1 {
			t.Errorf("%d providers enabled, want 1", got)
		}
	})
	t.Run("the profile's config keeps its own lines", func(t *testing.T) {
		p := mustParse(t, dir, text, Options{Profile: "dev"})
		cfg := p.Providers[0].Config
		for i := 0; i+1 < len(cfg.Content); i += 2 {
			k := cfg.Content[i]
			want := map[string]int{"endpoint": 22, "tls": 23, "roles": 24, "extra": 25}[k.Value]
			if k.Line != want {
				t.Errorf("config key %q on line %d, want %d", k.Value, k.Line, want)
			}
		}
	})
	t.Run("the base config is not changed by a profile", func(t *testing.T) {
		mustParse(t, dir, text, Options{Profile: "dev"})
		p := mustParse(t, dir, text, Options{})
		var cfg map[string]any
		if err := p.Providers[0].Config.Decode(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg["endpoint"] != "https://zts" || cfg["extra"] != nil {
			t.Errorf("config = %#v", cfg)
		}
	})
	t.Run("empty override changes nothing", func(t *testing.T) {
		p := mustParse(t, dir, text, Options{Profile: "lean"})
		if !p.Providers[1].Enabled {
			t.Errorf("metrics disabled by an empty override")
		}
	})
	t.Run("profile enables a provider and resolves its plugin", func(t *testing.T) {
		_, err := parse(t, dir, text, Options{Profile: "debugging"})
		wantAll(t, err, `p.yaml:14: providers[2].plugin: plugin "sia-plugin-missing" not found`)
	})
}

func TestMerge(t *testing.T) {
	node := func(text string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	decode := func(n *yaml.Node) any {
		var v any
		if err := n.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ a, b, want string }{
		{"{x: 1}", "{y: 2}", "{x: 1, y: 2}"},
		{"{x: 1, y: 1}", "{y: 2}", "{x: 1, y: 2}"},
		{"{x: {a: 1, b: 1}}", "{x: {b: 2, c: 3}}", "{x: {a: 1, b: 2, c: 3}}"},
		{"{x: [1, 2]}", "{x: [3]}", "{x: [3]}"},
		{"{x: {a: 1}}", "{x: 5}", "{x: 5}"},
		{"{x: 5}", "{x: {a: 1}}", "{x: {a: 1}}"},
		{"[1]", "{x: 1}", "{x: 1}"},
		{"{x: 1}", "[1]", "[1]"},
	}
	for _, c := range cases {
		a := node(c.a)
		before := decode(a)
		got := merge(a, node(c.b))
		if g, w := decode(got), decode(node(c.want)); !equalYAML(g, w) {
			t.Errorf("merge(%s, %s) = %#v, want %#v", c.a, c.b, g, w)
		}
		if after := decode(a); !equalYAML(before, after) {
			t.Errorf("merge(%s, %s) changed its first argument to %#v", c.a, c.b, after)
		}
	}
	if got := merge(nil, node("{x: 1}")); got.Kind != yaml.MappingNode {
		t.Errorf("merge(nil, b) = %+v", got)
	}
}

func equalYAML(a, b any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return string(x) == string(y)
}

func TestPluginResolution(t *testing.T) {
	dir := fixture(t)
	abs := filepath.Join(dir, "bin", "sia-plugin-a")
	cases := []struct {
		name      string
		pluginDir string // agent.plugin_dir
		dflt      string // Options.DefaultPluginDir
		plugin    string
		want      string
	}{
		{name: "bare name in plugin_dir relative to the file", pluginDir: "bin", plugin: "sia-plugin-a", want: abs},
		{name: "bare name in plugin_dir with dots", pluginDir: "./bin/../bin", plugin: "sia-plugin-a", want: abs},
		{name: "bare name in absolute plugin_dir", pluginDir: filepath.Join(dir, "bin"), plugin: "sia-plugin-a", want: abs},
		{name: "plugin_dir wins over the default", pluginDir: "bin", dflt: "/nonexistent", plugin: "sia-plugin-a", want: abs},
		{name: "default plugin dir", dflt: filepath.Join(dir, "bin"), plugin: "sia-plugin-a", want: abs},
		{name: "path relative to the file", plugin: "bin/sia-plugin-a", want: abs},
		{name: "dot path relative to the file", plugin: "./bin/sia-plugin-a", want: abs},
		{name: "path ignores plugin_dir", pluginDir: "/nonexistent", plugin: "./bin/sia-plugin-a", want: abs},
		{name: "absolute path", pluginDir: "/nonexistent", plugin: abs, want: abs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := "version: 1\n"
			if c.pluginDir != "" {
				text += "agent:\n  plugin_dir: " + c.pluginDir + "\n"
			}
			text += "providers:\n  - name: a\n    plugin: " + c.plugin + "\n"
			p := mustParse(t, dir, text, Options{DefaultPluginDir: c.dflt})
			if got := p.Providers[0].Path; got != c.want {
				t.Errorf("Path = %q, want %q", got, c.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := fixture(t)
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(header+"providers:\n  - {name: a, plugin: sia-plugin-a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, Options{Lookup: env{}.lookup})
	if err != nil {
		t.Fatal(err)
	}
	if p.File != path || p.Providers[0].Path != filepath.Join(dir, "bin", "sia-plugin-a") {
		t.Errorf("pipeline = %+v, provider = %+v", p, p.Providers[0])
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml"), Options{}); err == nil || !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "reading pipeline") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestUsesTheProcessEnvironmentByDefault(t *testing.T) {
	dir := fixture(t)
	t.Setenv("SIA_PIPELINE_TEST_PLUGIN", "sia-plugin-b")
	p, err := Parse("p.yaml", filepath.Join(dir, "p.yaml"), []byte(header+"providers:\n  - {name: a, plugin: \"${SIA_PIPELINE_TEST_PLUGIN}\"}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Providers[0].Plugin != "sia-plugin-b" {
		t.Errorf("plugin = %q", p.Providers[0].Plugin)
	}
}
