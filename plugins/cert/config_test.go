package cert

import (
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := sdk.ParseConfig("/etc/sia/pipeline.yaml", `
endpoint: https://zts.example.com:4443/zts/v1
identity:
  provider: sys.auth.dev
  domain: sia.demo
  service: agent
  instance_id: 2c5e-pod
  attestation_file: token
  ips: [""]
  extra_dns: ["", agent.example.com]
role_certs:
  targets: [sia.demo:role.reader]
`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		s.keyFile:                            "/var/run/athenz/service.key.pem",
		s.certFile:                           "/var/run/athenz/service.cert.pem",
		s.caCertFile:                         "/var/run/athenz/ca.cert.pem",
		s.roleCertFile(s.roles[0]):           "/var/run/athenz/rolecerts/sia.demo:role.reader.cert.pem",
		s.roleKeyFile(s.roles[0]):            "",
		s.attestation:                        "/etc/sia/token",
		s.Key.Type:                           "rsa",
		s.Identity.DNSSuffix:                 "athenz.cloud",
		s.Refresh.MinInterval.Std().String(): "10s",
		s.Refresh.FirstAttemptTimeout.Std().String(): "500ms",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if len(s.ips) != 0 || len(s.Identity.ExtraDNS) != 1 {
		t.Errorf("ips %v, extra DNS %v: want empty entries skipped", s.ips, s.Identity.ExtraDNS)
	}
	if s.Key.Bits != 2048 || s.Key.Rotate || s.Refresh.Interval != 0 {
		t.Errorf("key %+v, interval %v: want RSA 2048 kept, refresh at half the lifetime", s.Key, s.Refresh.Interval)
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // each a line of the error
	}{{
		name: "empty",
		yaml: "{}",
		want: []string{
			"identity.provider: required with identity.mode register",
			"identity.domain: required with identity.mode register",
			"identity.service: required",
			"identity.instance_id: required",
			"identity.attestation_file: required",
			"endpoint: required",
		},
	}, {
		name: "bad values",
		yaml: `endpoint: http://zts:4080/zts/v1
identity:
  provider: sys.auth.dev
  domain: "bad domain"
  service: agent
  instance_id: pod/1
  attestation_file: token
  ips: [10.0.0.300]
  expiry: 30s
key:
  type: ecdsa
  bits: 384
role_certs:
  targets: [sia.demo:role.reader, sia.demo.reader, sia.demo:role.reader]
  concurrency: 0
refresh:
  interval: 1s
  jitter: 1.5
`,
		want: []string{
			`cfg.yaml:1: endpoint: "http://zts:4080/zts/v1" is not an https:// URL`,
			`cfg.yaml:4: identity.domain: "bad domain" is not a domain name`,
			`cfg.yaml:6: identity.instance_id: "pod/1" is not a path element`,
			`cfg.yaml:8: identity.ips[0]: "10.0.0.300" is not an IP address`,
			`cfg.yaml:9: identity.expiry: ZTS counts in minutes`,
			`cfg.yaml:12: key.bits: an ECDSA key is P-256 (256 bits), not 384`,
			`cfg.yaml:14: role_certs.targets[1]: "sia.demo.reader" is not <domain>:role.<role>`,
			`cfg.yaml:14: role_certs.targets[2]: sia.demo:role.reader is listed twice`,
			`cfg.yaml:15: role_certs.concurrency: must be between 1 and 64`,
			`cfg.yaml:17: refresh.interval: 1s is shorter than refresh.min_interval (10s)`,
			`cfg.yaml:18: refresh.jitter: must be at least 0 and less than 1`,
		},
	}, {
		name: "existing with register settings",
		yaml: `identity:
  mode: existing
  domain: sia.demo
key:
  rotate: true
  allow_insecure_permissions: true
files:
  combined: service.pem
  cert_chain: true
`,
		want: []string{
			"cfg.yaml:3: identity.domain: only with identity.mode register",
			"cfg.yaml:5: key.rotate: only with identity.mode register",
			"cfg.yaml:8: files.combined: only with identity.mode register",
			"cfg.yaml:9: files.cert_chain: only with identity.mode register",
		},
	}, {
		name: "role certificate names",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity: {provider: sys.auth.dev, domain: sia.demo, service: agent, instance_id: pod, attestation_file: token}
role_certs:
  targets: [sia.demo:role.reader, sia.demo:role.writer]
  dir: /rc
  cert_name: /rc/{{domain}}.pem
  key_name: /rc/{{role}}/{{printf}}.pem
  combined_output: true
`,
		want: []string{
			"cfg.yaml:6: role_certs.cert_name: set together with role_certs.dir: set one of them",
			`cfg.yaml:7: role_certs.key_name: "/rc/{{role}}/{{printf}}.pem": unknown {{printf}}`,
		},
	}, {
		name: "role certificate names that collide",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity: {provider: sys.auth.dev, domain: sia.demo, service: agent, instance_id: pod, attestation_file: token}
role_certs:
  targets: [sia.demo:role.reader, sia.demo:role.writer, other:role.reader]
  cert_name: /rc/{{domain}}.pem
  key_name: /keys/{{role}}/{{domain}}.pem
`,
		want: []string{
			"cfg.yaml:5: role_certs.cert_name: sia.demo:role.reader and sia.demo:role.writer would both be written to /rc/sia.demo.pem",
			"cfg.yaml:6: role_certs.key_name: sia.demo:role.reader: the key and the certificate need base names of their own",
			"cfg.yaml:6: role_certs.key_name: other:role.reader: the key and the certificate need base names of their own",
		},
	}, {
		name: "role certificate names without key names",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity: {provider: sys.auth.dev, domain: sia.demo, service: agent, instance_id: pod, attestation_file: token}
role_certs:
  targets: [sia.demo:role.reader]
  cert_name: /rc/{{domain}}{{delimiter}}{{role}}.pem
  key_output: true
`,
		want: []string{
			"cfg.yaml:6: role_certs.key_output: with role_certs.cert_name, name the keys with role_certs.key_name",
		},
	}, {
		name: "intermediate bundle",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity: {provider: sys.auth.dev, domain: sia.demo, service: agent, instance_id: pod, attestation_file: token}
role_certs:
  intermediate_bundle: ../athenz
`,
		want: []string{
			`cfg.yaml:4: role_certs.intermediate_bundle: "../athenz" is not the name of a ZTS CA bundle`,
		},
	}, {
		name: "file names",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity: {provider: sys.auth.dev, domain: sia.demo, service: agent, instance_id: pod, attestation_file: token}
files:
  key: keys/athenz.pem
  cert: certs/athenz.pem
  combined: keys/athenz.pem
`,
		want: []string{
			"cfg.yaml:5: files.cert: the key and the certificate need names of their own: both files are links into one directory",
			"cfg.yaml:6: files.combined: needs a file of its own",
		},
	}, {
		name: "x509_svid needs an instance id fit for a DNS name",
		yaml: `endpoint: https://zts.example.com:4443/zts/v1
identity:
  provider: sys.auth.dev
  domain: sia.demo
  service: agent
  instance_id: host@pod_1
  attestation_file: token
  x509_svid: true
`,
		want: []string{`cfg.yaml:6: identity.instance_id: "host@pod_1" cannot be part of a DNS name, where identity.x509_svid puts it`},
	}, {
		name: "unknown key",
		yaml: "identity:\n  mode: register\n  domian: sia.demo\n",
		want: []string{`cfg.yaml:3: identity.domian`},
	}, {
		name: "unknown mode",
		yaml: "identity:\n  mode: local\n",
		want: []string{`cfg.yaml:2: identity.mode: "local" is not register or existing`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := sdk.ParseConfig("cfg.yaml", tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			_, err = loadSettings(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

// Mode existing needs no ZTS unless role certificates are asked for.
func TestConfigExistingWithoutZTS(t *testing.T) {
	cfg, err := sdk.ParseConfig("cfg.yaml", "identity:\n  mode: existing\nfiles:\n  dir: certs\n")
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.caCertFile != "" || s.keyFile != "certs/service.key.pem" {
		t.Errorf("ca %q, key %q", s.caCertFile, s.keyFile)
	}
}

func TestIsDNSLabels(t *testing.T) {
	for s, want := range map[string]bool{
		"pod-1": true, "2c5e-41ab.pod": true, "A1": true, strings.Repeat("a", 63): true,
		"": false, "-pod": false, "pod-": false, "a..b": false, "pod_1": false, "pod@1": false,
		strings.Repeat("a", 64): false, "ü": false,
	} {
		if got := isDNSLabels(s); got != want {
			t.Errorf("isDNSLabels(%q) = %v, want %v", s, got, want)
		}
	}
}
