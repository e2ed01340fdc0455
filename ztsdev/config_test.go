package ztsdev

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

func TestDemoConfig(t *testing.T) {
	cfg, err := ParseConfig("demo", DemoConfig())
	if err != nil {
		t.Fatalf("demo config: %v", err)
	}
	if len(cfg.Domains) != 1 || cfg.Domains[0].Name != "sia.demo" || cfg.Providers[0].Name != "sys.auth.dev" {
		t.Errorf("demo config = %+v", cfg)
	}
	// configs/zts-dev/demo.yaml is what `make demo` points at; it must be
	// the same data set as the built-in one.
	shipped, err := os.ReadFile("../configs/zts-dev/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, DemoConfig()) {
		t.Error("configs/zts-dev/demo.yaml differs from ztsdev/demo.yaml; copy one over the other")
	}
}

func TestParseConfigDefaultsAndNormalization(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte(`
providers:
  - {name: Sys.Auth.Dev, attestation: any, dnsSuffixes: [.Example.COM]}
domains:
  - name: Sports
    services: [{name: API, launchProviders: [SYS.AUTH.DEV]}]
    roles:
      - name: Readers
        members:
          - Sports.API
          - "user.*"
          - {name: user.bob, expiration: 2030-01-01T00:00:00Z}
faults:
  - {operation: "*", latency: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.KeyID != "0" || s.RoleTokenDefaultSecs != 7200 || s.RoleTokenMaxSecs != 2592000 || s.IDTokenMaxSecs != 43200 ||
		s.CertDefaultMins != 1440 || s.CertMaxMins != 43200 || !*s.OpenIDScope || s.SpiffeTrustDomain != "athenz.io" {
		t.Errorf("server defaults = %+v", s)
	}
	p := cfg.Providers[0]
	if p.Name != "sys.auth.dev" || p.DNSSuffixes[0] != "example.com" || !*p.CertRefresh {
		t.Errorf("provider = %+v", p)
	}
	d := cfg.Domains[0]
	if d.Name != "sports" || d.Services[0].Name != "api" || d.Services[0].LaunchProviders[0] != "sys.auth.dev" {
		t.Errorf("domain = %+v", d)
	}
	m := d.Roles[0].Members
	if d.Roles[0].Name != "readers" || m[0].Name != "sports.api" || m[1].Name != "user.*" ||
		m[2].Name != "user.bob" || !m[2].Expiration.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("role = %+v", d.Roles[0])
	}
	if f := cfg.Faults[0]; f.Operation != "" || f.Latency != time.Second || f.Message == "" {
		t.Errorf("fault = %+v", f)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "domians: []\n", []string{`f.yaml:1: unknown key "domians"`}},
		{"unknown nested key", "domains:\n  - name: d\n    rolez: []\n", []string{`f.yaml:3: unknown key "rolez"`}},
		{"unknown member key", "domains:\n  - name: d\n    roles:\n      - name: r\n        members:\n          - {nme: x}\n",
			[]string{`f.yaml:6: unknown key "nme"`}},
		{"syntax", "domains: [\n", []string{"f.yaml:"}},
		{"wrong type", "server:\n  certMaxMins: lots\n", []string{"f.yaml:2: cannot unmarshal"}},
		{"bad names", "domains:\n  - name: 'bad domain'\n    services: [{name: a.b}]\n",
			[]string{`f.yaml:2: domain name "bad domain" is not valid`, `f.yaml:3: service name "a.b" is not a simple name`}},
		{"launch provider unknown", "domains:\n  - name: d\n    services:\n      - name: s\n        launchProviders: [nope]\n",
			[]string{`f.yaml:5: launch provider "nope" is not configured`}},
		{"secret missing", "providers:\n  - name: p\n", []string{"f.yaml:2: provider \"p\": attestation secret needs a non-empty secret"}},
		{"bad attestation", "providers:\n  - name: p\n    attestation: magic\n", []string{`f.yaml:3: attestation "magic"`}},
		{"duplicate domain", "domains:\n  - name: d\n  - name: D\n", []string{`f.yaml:3: duplicate domain "d"`}},
		{"bad member", "domains:\n  - name: d\n    roles:\n      - name: r\n        members: ['a b']\n", []string{`f.yaml:5: member "a b"`}},
		{"fault without effect", "faults:\n  - operation: status\n", []string{"f.yaml:2: a fault needs a status"}},
		{"fault bad op and status", "faults:\n  - {operation: tea, status: 200}\n",
			[]string{`f.yaml:2: unknown operation "tea"`, "f.yaml:2: status 200 is not an HTTP error status"}},
		{"fault bad latency", "faults:\n  - {latency: 5}\n", []string{"f.yaml:2: cannot unmarshal"}},
		{"cert default above max", "server:\n  certDefaultMins: 100\n  certMaxMins: 10\n", []string{"f.yaml:2: certDefaultMins (100) exceeds certMaxMins (10)"}},
		{"issuer not https", "server:\n  issuer: http://x\n", []string{"f.yaml:2: issuer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("f.yaml", []byte(tt.yaml))
			var ce conf.Problems
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v (%T), want conf.Problems", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	if _, err := LoadConfig("/nonexistent/zts.yaml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/zts.yaml") {
		t.Errorf("error = %v, want it to name the file", err)
	}
}
