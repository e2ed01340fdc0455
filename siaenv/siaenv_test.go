package siaenv_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/plugins/cert"
	"github.com/sia-agent/sia-agent/plugins/health"
	"github.com/sia-agent/sia-agent/plugins/k8ssecret"
	"github.com/sia-agent/sia-agent/plugins/metrics"
	"github.com/sia-agent/sia-agent/plugins/token"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/siaenv"
)

// absent marks a path that must not be in the pipeline.
type absentT struct{}

var absent absentT

// The smallest environments k8s-athenz-sia runs with: an existing key and
// certificate, and an identity from ZTS.
var (
	existing = map[string]string{
		"MODE":      "refresh",
		"KEY_FILE":  "/var/run/athenz/service.key.pem",
		"CERT_FILE": "/var/run/athenz/service.cert.pem",
	}
	register = with(existing,
		"PROVIDER_SERVICE", "sys.auth.k8s",
		"ENDPOINT", "https://zts.example.com:4443/zts/v1",
		"NAMESPACE", "sample-ns",
		"SERVICEACCOUNT", "client",
		"SA_TOKEN_FILE", "/var/run/secrets/sia/token",
		"POD_UID", "0000-pod-uid",
	)
)

// with returns base with the given variables set; an empty value unsets.
func with(base map[string]string, kv ...string) map[string]string {
	env := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

type testCase struct {
	name    string
	env     map[string]string
	unknown bool // Options.ReportUnknown
	mode    string
	// want maps paths of the pipeline to values: "agent.log_level", or a
	// provider's name then the path in its entry, e.g.
	// "certificate.config.identity.mode".
	want map[string]any
	// findings are "<severity> <VAR>", in any order.
	findings []string
	budget   time.Duration
}

var cases = []testCase{
	{
		name: "existing key pair",
		env:  existing,
		mode: "refresh",
		want: map[string]any{
			"agent.log_level":                  "info",
			"agent.shutdown_timeout":           "10s",
			"certificate.plugin":               "cert",
			"certificate.config.identity.mode": "existing",
			"certificate.config.files.key":     "/var/run/athenz/service.key.pem",
			"certificate.config.files.cert":    "/var/run/athenz/service.cert.pem",
			"certificate.config.endpoint":      absent,
			"token":                            absent,
			"metrics":                          absent,
			"healthcheck":                      absent,
		},
		findings: []string{"note PROVIDER_SERVICE"},
		budget:   10 * time.Second,
	},
	{
		name:     "MODE unset is init",
		env:      with(existing, "MODE", ""),
		mode:     "init",
		findings: []string{"note MODE", "note PROVIDER_SERVICE"},
	},
	{
		name:     "MODE init",
		env:      with(existing, "MODE", "init"),
		mode:     "init",
		findings: []string{"note MODE", "note PROVIDER_SERVICE"},
	},
	{
		name:     "MODE invalid",
		env:      with(existing, "MODE", "daemon"),
		findings: []string{"invalid MODE", "note PROVIDER_SERVICE"},
	},
	{
		name:     "KEY_FILE and CERT_FILE missing",
		env:      with(existing, "KEY_FILE", "", "CERT_FILE", " , "),
		findings: []string{"invalid KEY_FILE", "invalid CERT_FILE", "note PROVIDER_SERVICE"},
	},
	{
		// Without PROVIDER_SERVICE k8s-athenz-sia read the first and wrote none.
		name: "KEY_FILE and CERT_FILE lists",
		env:  with(existing, "KEY_FILE", " /a/key.pem, /b/key.pem", "CERT_FILE", "/a/cert.pem,/b/cert.pem,"),
		want: map[string]any{
			"certificate.config.files.key":         "/a/key.pem",
			"certificate.config.files.cert":        "/a/cert.pem",
			"certificate.config.files.dir":         "/a",
			"certificate.config.files.key_copies":  absent,
			"certificate.config.files.cert_copies": absent,
		},
		findings: []string{"note KEY_FILE", "note CERT_FILE", "note PROVIDER_SERVICE"},
	},
	{
		name: "KEY_FILE and CERT_FILE lists of an identity from ZTS",
		env:  with(register, "KEY_FILE", " /a/key.pem, /b/key.pem", "CERT_FILE", "/a/cert.pem,/b/cert.pem,/c/cert.pem"),
		want: map[string]any{
			"certificate.config.files.key":         "/a/key.pem",
			"certificate.config.files.cert":        "/a/cert.pem",
			"certificate.config.files.key_copies":  []any{"/b/key.pem"},
			"certificate.config.files.cert_copies": []any{"/b/cert.pem", "/c/cert.pem"},
		},
		findings: nil,
	},
	{
		name: "register",
		env:  register,
		want: map[string]any{
			"certificate.config.endpoint":                  "https://zts.example.com:4443/zts/v1",
			"certificate.config.identity.mode":             "register",
			"certificate.config.identity.provider":         "sys.auth.k8s",
			"certificate.config.identity.domain":           "${NAMESPACE}",
			"certificate.config.identity.service":          "${SERVICEACCOUNT}",
			"certificate.config.identity.instance_id":      "${POD_UID}",
			"certificate.config.identity.attestation_file": "/var/run/secrets/sia/token",
			"certificate.config.files.ca_cert":             "",
			"certificate.config.files.cert_chain":          true,
			"certificate.config.identity.ips":              absent,
		},
		findings: nil,
	},
	{
		name: "ATHENZ_DOMAIN with prefix and suffix",
		env:  with(register, "ATHENZ_DOMAIN", "athenz.dom", "ATHENZ_PREFIX", "pre.", "ATHENZ_SUFFIX", ".suf"),
		want: map[string]any{
			"certificate.config.identity.domain": "pre.athenz.dom.suf",
		},
		findings: []string{"note NAMESPACE"},
	},
	{
		name: "NAMESPACE with prefix",
		env:  with(register, "ATHENZ_PREFIX", "k8s."),
		want: map[string]any{
			"certificate.config.identity.domain": "k8s.${NAMESPACE}",
		},
		findings: nil,
	},
	{
		name:     "register without the instance",
		env:      with(existing, "PROVIDER_SERVICE", "sys.auth.k8s", "ENDPOINT", "https://zts.example.com/zts/v1"),
		findings: []string{"invalid NAMESPACE", "invalid SERVICEACCOUNT", "invalid POD_UID", "invalid SA_TOKEN_FILE"},
	},
	{
		name:     "register without ENDPOINT",
		env:      with(register, "ENDPOINT", ""),
		findings: []string{"invalid ENDPOINT"},
	},
	{
		name: "register with everything",
		env: with(register,
			"SERVER_CA_CERT", "/etc/ssl/athenz-ca.pem",
			"CA_CERT_FILE", "/var/run/athenz/ca.cert.pem",
			"DNS_SUFFIX", "zts.athenz.cloud",
			"CERT_EXTRA_SAN_DNS", "a.example.com, b.example.com",
			"DELETE_INSTANCE_ID", "true",
			"POD_IP", "10.0.0.1",
		),
		want: map[string]any{
			"certificate.config.ca_file":                     "/etc/ssl/athenz-ca.pem",
			"certificate.config.files.ca_cert":               "/var/run/athenz/ca.cert.pem",
			"certificate.config.identity.dns_suffix":         "zts.athenz.cloud",
			"certificate.config.identity.extra_dns":          []any{"a.example.com", "b.example.com"},
			"certificate.config.identity.delete_on_shutdown": true,
			"certificate.config.identity.ips":                []any{"${POD_IP}"},
		},
		findings: nil,
	},
	{
		name:     "POD_IP invalid",
		env:      with(register, "POD_IP", "10.0.0.256"),
		findings: []string{"invalid POD_IP"},
	},
	{
		name:     "DELETE_INSTANCE_ID invalid",
		env:      with(register, "DELETE_INSTANCE_ID", "yes"),
		findings: []string{"invalid DELETE_INSTANCE_ID"},
	},
	{
		name: "existing ignores the instance",
		env: with(existing,
			"NAMESPACE", "ns", "ATHENZ_DOMAIN", "d", "ATHENZ_PREFIX", "p.", "ATHENZ_SUFFIX", ".s", "SA_TOKEN_FILE", "/t",
			"POD_UID", "u", "DNS_SUFFIX", "x.cloud", "CERT_EXTRA_SAN_DNS", "a.b", "DELETE_INSTANCE_ID", "true",
			"CA_CERT_FILE", "/ca.pem", "SERVICEACCOUNT", "sa", "POD_IP", "10.1.2.3",
		),
		want: map[string]any{
			"certificate.config.identity.mode":   "existing",
			"certificate.config.identity.ips":    []any{"${POD_IP}"},
			"certificate.config.identity.domain": absent,
			"certificate.config.files.ca_cert":   absent,
		},
		findings: []string{"note PROVIDER_SERVICE", "note NAMESPACE", "note ATHENZ_DOMAIN", "note ATHENZ_PREFIX",
			"note ATHENZ_SUFFIX", "note SA_TOKEN_FILE", "note POD_UID", "note DNS_SUFFIX", "note CERT_EXTRA_SAN_DNS",
			"note DELETE_INSTANCE_ID", "note CA_CERT_FILE", "note SERVICEACCOUNT"},
	},
	{
		name: "CERT_SUBJECT",
		env:  with(existing, "CERT_SUBJECT", `C=US, ST=CA,L=Sunny\2cvale,O=Example\, Inc.,OU=Platform,STREET=1st,POSTALCODE=94085,O=Other,C=`),
		want: map[string]any{
			"certificate.config.identity.subject.country":             "US",
			"certificate.config.identity.subject.province":            "CA",
			"certificate.config.identity.subject.locality":            "Sunny,vale",
			"certificate.config.identity.subject.street_address":      "1st",
			"certificate.config.identity.subject.postal_code":         "94085",
			"certificate.config.identity.subject.organization":        "Example, Inc.",
			"certificate.config.identity.subject.organizational_unit": "Platform",
		},
		findings: []string{"note PROVIDER_SERVICE", "unsupported CERT_SUBJECT"},
	},
	{
		// k8s-athenz-sia's role certificates have its default OU.
		name: "role certificates without an OU in CERT_SUBJECT",
		env: with(register, "CERT_SUBJECT", "O=Example",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader", "ROLECERT_DIR", "/rc"),
		want: map[string]any{
			"certificate.config.identity.subject.organization":        "Example",
			"certificate.config.identity.subject.organizational_unit": "Athenz",
		},
		findings: nil,
	},
	{
		name:     "CERT_SUBJECT with CN",
		env:      with(existing, "CERT_SUBJECT", "CN=foo,O=bar"),
		findings: []string{"note PROVIDER_SERVICE", "invalid CERT_SUBJECT"},
	},
	{
		name:     "CERT_SUBJECT unknown attribute",
		env:      with(existing, "CERT_SUBJECT", "DC=example"),
		findings: []string{"note PROVIDER_SERVICE", "invalid CERT_SUBJECT"},
	},
	{
		name:     "CERT_SUBJECT malformed",
		env:      with(existing, "CERT_SUBJECT", "Example Inc"),
		findings: []string{"note PROVIDER_SERVICE", "invalid CERT_SUBJECT"},
	},
	{
		name: "REFRESH_INTERVAL",
		env:  with(register, "REFRESH_INTERVAL", "24h"),
		want: map[string]any{
			"certificate.config.refresh.interval":     "24h",
			"certificate.config.refresh.min_interval": absent,
		},
		findings: nil,
	},
	{
		name: "REFRESH_INTERVAL short",
		env:  with(register, "REFRESH_INTERVAL", "5s"),
		want: map[string]any{
			"certificate.config.refresh.interval":     "5s",
			"certificate.config.refresh.min_interval": "5s",
		},
		findings: nil,
	},
	{
		name:     "REFRESH_INTERVAL 0",
		env:      with(register, "REFRESH_INTERVAL", "0"),
		want:     map[string]any{"certificate.config.refresh": absent},
		findings: []string{"note REFRESH_INTERVAL"},
	},
	{
		name:     "REFRESH_INTERVAL invalid",
		env:      with(register, "REFRESH_INTERVAL", "abc"),
		findings: []string{"invalid REFRESH_INTERVAL"},
	},
	{
		name:     "INTERMEDIATE_CERT_BUNDLE without role certificates",
		env:      with(register, "INTERMEDIATE_CERT_BUNDLE", "athenz"),
		want:     map[string]any{"certificate.config.role_certs": absent},
		findings: []string{"note INTERMEDIATE_CERT_BUNDLE"},
	},
	{
		name: "INTERMEDIATE_CERT_BUNDLE",
		env: with(register, "INTERMEDIATE_CERT_BUNDLE", "athenz",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader", "ROLECERT_DIR", "/var/run/athenz/rolecerts"),
		want:     map[string]any{"certificate.config.role_certs.intermediate_bundle": "athenz"},
		findings: nil,
	},
	{
		name: "INTERMEDIATE_CERT_BUNDLE invalid",
		env: with(register, "INTERMEDIATE_CERT_BUNDLE", "../athenz",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader", "ROLECERT_DIR", "/var/run/athenz/rolecerts"),
		findings: []string{"invalid INTERMEDIATE_CERT_BUNDLE"},
	},
	{
		name: "role certificates",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader, domainonly.target",
			"ROLECERT_DIR", "/var/run/athenz/rolecerts",
			"ROLE_CERT_FILENAME_DELIMITER", "_",
			"ROLE_CERT_KEY_FILE_OUTPUT", "true",
		),
		want: map[string]any{
			"certificate.config.role_certs.targets":    []any{"sample.target:role.reader"},
			"certificate.config.role_certs.dir":        "/var/run/athenz/rolecerts",
			"certificate.config.role_certs.delimiter":  "_",
			"certificate.config.role_certs.key_output": true,
			"token": absent,
		},
		findings: nil,
	},
	{
		name: "role certificate naming formats",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{domain}}{{delimiter}}{{role}}.cert.pem",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/rc/{{ domain }}{{ delimiter }}{{ role }}.key.pem",
		),
		want: map[string]any{
			"certificate.config.role_certs.dir":        "/rc",
			"certificate.config.role_certs.key_output": true,
		},
		findings: nil,
	},
	{
		name: "role certificate naming formats of their own",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{role}}.pem",
			"METRICS_SERVER_ADDR", "127.0.0.1:9999",
		),
		want: map[string]any{
			"certificate.config.role_certs.cert_name": "/rc/{{role}}.pem",
			"certificate.config.role_certs.dir":       absent,
			"certificate.config.role_certs.key_name":  absent,
			"metrics.config.x509_files":               []any{"/var/run/athenz/service.cert.pem", "/rc/*.pem"},
		},
		findings: nil,
	},
	{
		name: "role certificate and key naming formats of their own",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{domain}}/{{role}}.crt",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/rc/{{domain}}/{{role}}.key",
		),
		want: map[string]any{
			"certificate.config.role_certs.cert_name":  "/rc/{{domain}}/{{role}}.crt",
			"certificate.config.role_certs.key_name":   "/rc/{{domain}}/{{role}}.key",
			"certificate.config.role_certs.key_output": absent,
		},
		findings: nil,
	},
	{
		name: "role certificate naming format invalid",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{domain}}{{service}}.pem",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/rc/{{domain}.key",
		),
		findings: []string{"invalid ROLE_CERT_NAMING_FORMAT", "invalid ROLE_CERT_KEY_NAMING_FORMAT"},
	},
	{
		name: "role key naming format without role certificates",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/rc/{{domain}}{{delimiter}}{{role}}.key.pem",
		),
		want:     map[string]any{"certificate.config.role_certs": absent},
		findings: []string{"note ROLE_CERT_KEY_NAMING_FORMAT", "note TARGET_DOMAIN_ROLES"},
	},
	{
		name: "ROLE_CERT_KEY_FILE_OUTPUT with a naming format of its own",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{role}}.pem",
			"ROLE_CERT_KEY_FILE_OUTPUT", "true",
		),
		findings: []string{"invalid ROLE_CERT_KEY_FILE_OUTPUT"},
	},
	{
		name: "role key naming format elsewhere",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{domain}}{{delimiter}}{{role}}.cert.pem",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/keys/{{domain}}{{delimiter}}{{role}}.key.pem",
		),
		want: map[string]any{
			"certificate.config.role_certs.dir":        "/rc",
			"certificate.config.role_certs.key_name":   "/keys/{{domain}}{{delimiter}}{{role}}.key.pem",
			"certificate.config.role_certs.key_output": absent,
		},
		findings: nil,
	},
	{
		name: "ROLECERT_DIR and ROLE_CERT_NAMING_FORMAT",
		env: with(register, "TARGET_DOMAIN_ROLES", "a:role.b", "ROLECERT_DIR", "/rc",
			"ROLE_CERT_NAMING_FORMAT", "/rc/{{domain}}{{delimiter}}{{role}}.cert.pem"),
		findings: []string{"invalid ROLE_CERT_NAMING_FORMAT"},
	},
	{
		name: "ROLECERT_DIR and ROLE_CERT_KEY_NAMING_FORMAT",
		env: with(register, "TARGET_DOMAIN_ROLES", "a:role.b", "ROLECERT_DIR", "/rc",
			"ROLE_CERT_KEY_NAMING_FORMAT", "/rc/{{domain}}{{delimiter}}{{role}}.key.pem"),
		findings: []string{"invalid ROLE_CERT_KEY_NAMING_FORMAT"},
	},
	{
		name:     "ROLE_CERT_KEY_FILE_OUTPUT without a directory",
		env:      with(register, "TARGET_DOMAIN_ROLES", "a:role.b", "ROLE_CERT_KEY_FILE_OUTPUT", "true"),
		findings: []string{"invalid ROLE_CERT_KEY_FILE_OUTPUT", "note TARGET_DOMAIN_ROLES"},
	},
	{
		name:     "ROLECERT_DIR without roles",
		env:      with(register, "TARGET_DOMAIN_ROLES", "domainonly.target", "ROLECERT_DIR", "/rc"),
		want:     map[string]any{"certificate.config.role_certs": absent},
		findings: []string{"note ROLECERT_DIR"},
	},
	{
		name:     "ROLE_CERT_FILENAME_DELIMITER without a directory",
		env:      with(register, "ROLE_CERT_FILENAME_DELIMITER", "_"),
		findings: []string{"note ROLE_CERT_FILENAME_DELIMITER"},
	},
	{
		name: "token server",
		env: with(register,
			"TOKEN_TYPE", "roletoken+accesstoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader,domainonly.target",
			"TOKEN_SERVER_ADDR", ":8880",
			"TOKEN_SERVER_REST_API", "true",
			"USE_TOKEN_SERVER", "true",
			"ROLE_AUTH_HEADER", "X-Role-Token",
			"TOKEN_SERVER_TIMEOUT", "15s",
			"SHUTDOWN_DELAY", "2s",
			"SHUTDOWN_TIMEOUT", "10s",
			"TOKEN_EXPIRY", "10m",
			"TOKEN_REFRESH_INTERVAL", "5m",
			"SERVER_CA_CERT", "/etc/ssl/athenz-ca.pem",
		),
		want: map[string]any{
			"token.plugin":                         "token",
			"token.shutdown_timeout":               "17s",
			"token.config.endpoint":                "https://zts.example.com:4443/zts/v1",
			"token.config.ca_file":                 "/etc/ssl/athenz-ca.pem",
			"token.config.key_file":                "/var/run/athenz/service.key.pem",
			"token.config.cert_file":               "/var/run/athenz/service.cert.pem",
			"token.config.token_types":             []any{"accesstoken", "roletoken"},
			"token.config.token_expiry":            "10m",
			"token.config.openid_service":          "${SERVICEACCOUNT}",
			"token.config.targets[0].domain":       "sample.target",
			"token.config.targets[0].roles":        []any{"reader"},
			"token.config.targets[1].domain":       "domainonly.target",
			"token.config.targets[1].roles":        absent,
			"token.config.address":                 ":8880",
			"token.config.server.enabled":          true,
			"token.config.server.header_mode":      true,
			"token.config.server.rest_api":         true,
			"token.config.server.role_auth_header": "X-Role-Token",
			"token.config.server.request_timeout":  "15s",
			"token.config.server.write_timeout":    "20s",
			"token.config.server.shutdown_delay":   "2s",
			"token.config.server.shutdown_timeout": "10s",
			"token.config.files":                   absent,
			"certificate.config.role_certs":        absent,
		},
		findings: []string{"note TOKEN_REFRESH_INTERVAL"},
		budget:   27 * time.Second,
	},
	{
		name: "role tokens alone ask for no openid scope",
		env:  with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "USE_TOKEN_SERVER", "true", "TOKEN_TYPE", "roletoken"),
		want: map[string]any{
			"token.config.token_types":    []any{"roletoken"},
			"token.config.openid_service": absent,
		},
	},
	{
		name: "token server with mTLS",
		env: with(register,
			"TOKEN_SERVER_ADDR", "127.0.0.1:8880",
			"USE_TOKEN_SERVER", "true",
			"TOKEN_SERVER_TLS_CERT_PATH", "/tls/cert.pem",
			"TOKEN_SERVER_TLS_KEY_PATH", "/tls/key.pem",
			"TOKEN_SERVER_TLS_CA_PATH", "/tls/ca.pem",
		),
		want: map[string]any{
			"token.config.token_types":               []any{"accesstoken"},
			"token.config.server.rest_api":           false,
			"token.config.server.tls.cert_file":      "/tls/cert.pem",
			"token.config.server.tls.key_file":       "/tls/key.pem",
			"token.config.server.tls.client_ca_file": "/tls/ca.pem",
			"token.shutdown_timeout":                 absent, // 0 + 5s + 5s: the default 10s
		},
		findings: []string{"note TOKEN_SERVER_TLS_CA_PATH"},
	},
	{
		name: "token server TLS without a key",
		env: with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "USE_TOKEN_SERVER", "true",
			"TOKEN_SERVER_TLS_CERT_PATH", "/tls/cert.pem"),
		findings: []string{"invalid TOKEN_SERVER_TLS_KEY_PATH"},
	},
	{
		name: "token server TLS without a certificate",
		env: with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "USE_TOKEN_SERVER", "true",
			"TOKEN_SERVER_TLS_KEY_PATH", "/tls/key.pem"),
		findings: []string{"invalid TOKEN_SERVER_TLS_CERT_PATH"},
	},
	{
		name: "token server mTLS without TLS",
		env: with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "USE_TOKEN_SERVER", "true",
			"TOKEN_SERVER_TLS_CA_PATH", "/tls/ca.pem"),
		findings: []string{"invalid TOKEN_SERVER_TLS_CA_PATH"},
	},
	{
		name:     "token server with neither API",
		env:      with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "SHUTDOWN_DELAY", "3s"),
		want:     map[string]any{"token": absent},
		findings: []string{"note TOKEN_SERVER_ADDR", "note SHUTDOWN_DELAY"},
	},
	{
		name:     "token values invalid",
		env:      with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "TOKEN_SERVER_REST_API", "maybe", "USE_TOKEN_SERVER", "1", "TOKEN_EXPIRY", "600", "TOKEN_REFRESH_INTERVAL", "1500ms", "TOKEN_SERVER_TIMEOUT", "x"),
		findings: []string{"invalid TOKEN_SERVER_REST_API", "invalid TOKEN_EXPIRY", "note TOKEN_REFRESH_INTERVAL", "invalid TOKEN_SERVER_TIMEOUT"},
	},
	{
		name: "token files",
		env: with(register,
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"TOKEN_DIR", "/var/run/athenz/tokens",
			"ACCESS_TOKEN_FILENAME_DELIMITER", "_",
			"ROLE_TOKEN_FILENAME_DELIMITER", "-",
			"SHUTDOWN_TIMEOUT", "1m",
		),
		want: map[string]any{
			"token.config.files.dir":       "/var/run/athenz/tokens",
			"token.config.files.mode":      "0644",
			"token.config.files.delimiter": "_",
			"token.config.server.enabled":  false,
			"token.config.address":         absent,
		},
		findings: []string{"note ROLE_TOKEN_FILENAME_DELIMITER", "note SHUTDOWN_TIMEOUT"},
	},
	{
		name: "token file naming formats",
		env: with(register,
			"TOKEN_TYPE", "accesstoken,roletoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{domain}}{{delimiter}}{{role}}.accesstoken",
			"ROLE_TOKEN_NAMING_FORMAT", "/t/{{domain}}{{delimiter}}{{role}}.roletoken",
		),
		want: map[string]any{
			"token.config.files.dir":       "/t",
			"token.config.files.delimiter": absent,
		},
		findings: nil,
	},
	{
		name: "token file naming formats of their own",
		env: with(register,
			"TOKEN_TYPE", "accesstoken,roletoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{domain}}{{delimiter}}{{role}}.accesstoken",
			"ROLE_TOKEN_NAMING_FORMAT", "/other/{{domain}}{{delimiter}}{{role}}.roletoken",
		),
		want: map[string]any{
			"token.config.files.dir":               absent,
			"token.config.files.access_token_name": "/t/{{domain}}{{delimiter}}{{role}}.accesstoken",
			"token.config.files.role_token_name":   "/other/{{domain}}{{delimiter}}{{role}}.roletoken",
		},
		findings: nil,
	},
	{
		// k8s-athenz-sia writes the files of a kind with a format alone.
		name: "token file naming format of one kind",
		env: with(register,
			"TOKEN_TYPE", "accesstoken,roletoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{domain}}{{delimiter}}{{role}}.accesstoken",
		),
		want: map[string]any{
			"token.config.files.dir":               absent,
			"token.config.files.access_token_name": "/t/{{domain}}{{delimiter}}{{role}}.accesstoken",
			"token.config.files.role_token_name":   absent,
			"token.config.files.mode":              "0644",
		},
		findings: nil,
	},
	{
		name: "token file naming formats of their own",
		env: with(register,
			"TOKEN_TYPE", "accesstoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{ domain }}/{{ role }}.jwt",
		),
		want:     map[string]any{"token.config.files.access_token_name": "/t/{{ domain }}/{{ role }}.jwt"},
		findings: nil,
	},
	{
		name: "token file naming format invalid",
		env: with(register,
			"TOKEN_TYPE", "accesstoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{.Domain}}.jwt",
		),
		findings: []string{"invalid ACCESS_TOKEN_NAMING_FORMAT", "note TARGET_DOMAIN_ROLES"},
	},
	{
		name: "token file delimiters differ",
		env: with(register,
			"TOKEN_TYPE", "accesstoken,roletoken",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"TOKEN_DIR", "/t",
			"ROLE_TOKEN_FILENAME_DELIMITER", "_",
		),
		findings: []string{"unsupported ROLE_TOKEN_FILENAME_DELIMITER"},
	},
	{
		name: "TOKEN_DIR and a naming format",
		env: with(register, "TARGET_DOMAIN_ROLES", "a.b:role.c", "TOKEN_DIR", "/t",
			"ACCESS_TOKEN_NAMING_FORMAT", "/t/{{domain}}{{delimiter}}{{role}}.accesstoken"),
		findings: []string{"invalid ACCESS_TOKEN_NAMING_FORMAT"},
	},
	{
		name:     "TOKEN_DIR without targets",
		env:      with(register, "TOKEN_DIR", "/t"),
		want:     map[string]any{"token.config.files.dir": "/t"},
		findings: []string{"note TOKEN_DIR"},
	},
	{
		name:     "TOKEN_TYPE names no type",
		env:      with(register, "TOKEN_TYPE", "jwt", "TOKEN_SERVER_ADDR", ":8880", "USE_TOKEN_SERVER", "true"),
		want:     map[string]any{"token": absent},
		findings: []string{"note TOKEN_TYPE", "note TOKEN_SERVER_ADDR", "note USE_TOKEN_SERVER"},
	},
	{
		name:     "token expiry below the shortest lifetime worth caching",
		env:      with(register, "TOKEN_SERVER_ADDR", "127.0.0.1:8880", "TOKEN_SERVER_REST_API", "true", "TOKEN_EXPIRY", "30s"),
		findings: []string{"unsupported TOKEN_EXPIRY"},
	},
	{
		name:     "token settings without a server or files",
		env:      with(register, "TOKEN_EXPIRY", "10m", "ROLE_AUTH_HEADER", "X"),
		want:     map[string]any{"token": absent},
		findings: []string{"note TOKEN_EXPIRY", "note ROLE_AUTH_HEADER"},
	},
	{
		name: "metrics",
		env: with(register,
			"METRICS_SERVER_ADDR", ":9999",
			"CA_CERT_FILE", "/var/run/athenz/ca.cert.pem",
			"TARGET_DOMAIN_ROLES", "sample.target:role.reader",
			"ROLECERT_DIR", "/var/run/athenz/rolecerts",
			"POD_NAME", "api-7d9f",
		),
		want: map[string]any{
			"metrics.plugin":         "metrics",
			"metrics.config.address": ":9999",
			"metrics.config.x509_files": []any{"/var/run/athenz/service.cert.pem", "/var/run/athenz/ca.cert.pem",
				"/var/run/athenz/rolecerts/*.cert.pem"},
			// Its users' dashboards and alerts query k8s-athenz-sia's names.
			"metrics.config.k8s_athenz_sia.enabled":       true,
			"metrics.config.k8s_athenz_sia.k8s_namespace": "${NAMESPACE}",
			"metrics.config.k8s_athenz_sia.k8s_pod":       "${POD_NAME}",
		},
		findings: nil,
		budget:   20 * time.Second,
	},
	{
		name: "health",
		env:  with(register, "HEALTH_CHECK_ADDR", ":9998", "HEALTH_CHECK_ENDPOINT", "/healthz"),
		want: map[string]any{
			"healthcheck.plugin":         "health",
			"healthcheck.config.address": ":9998",
		},
		findings: nil,
	},
	{
		name:     "health without an endpoint",
		env:      with(register, "HEALTH_CHECK_ADDR", "127.0.0.1:9998"),
		want:     map[string]any{"healthcheck.config.address": "127.0.0.1:9998"},
		findings: []string{"note HEALTH_CHECK_ADDR"},
	},
	{
		name:     "health on another path",
		env:      with(register, "HEALTH_CHECK_ADDR", ":9998", "HEALTH_CHECK_ENDPOINT", "/health"),
		want:     map[string]any{"healthcheck.config.liveness_path": "/health"},
		findings: nil,
	},
	{
		// A ServeMux pattern ending in / answered every path below it.
		name:     "health on a subtree",
		env:      with(register, "HEALTH_CHECK_ADDR", ":9998", "HEALTH_CHECK_ENDPOINT", "/sia/"),
		want:     map[string]any{"healthcheck.config.liveness_path": "/sia"},
		findings: []string{"note HEALTH_CHECK_ENDPOINT"},
	},
	{
		name:     "health on the readiness path",
		env:      with(register, "HEALTH_CHECK_ADDR", ":9998", "HEALTH_CHECK_ENDPOINT", "/readyz"),
		want:     map[string]any{"healthcheck.config.liveness_path": absent},
		findings: []string{"unsupported HEALTH_CHECK_ENDPOINT"},
	},
	{
		name:     "health endpoint invalid",
		env:      with(register, "HEALTH_CHECK_ADDR", ":9998", "HEALTH_CHECK_ENDPOINT", "health"),
		findings: []string{"invalid HEALTH_CHECK_ENDPOINT"},
	},
	{
		name:     "health endpoint without an address",
		env:      with(register, "HEALTH_CHECK_ENDPOINT", "/healthz"),
		want:     map[string]any{"healthcheck": absent},
		findings: []string{"note HEALTH_CHECK_ENDPOINT"},
	},
	{
		name:     "LOG_LEVEL",
		env:      with(existing, "LOG_LEVEL", "DEBUG"),
		want:     map[string]any{"agent.log_level": "debug"},
		findings: []string{"note PROVIDER_SERVICE"},
	},
	{
		name:     "LOG_LEVEL warning",
		env:      with(existing, "LOG_LEVEL", "Warning"),
		want:     map[string]any{"agent.log_level": "warn"},
		findings: []string{"note PROVIDER_SERVICE"},
	},
	{
		name:     "LOG_LEVEL fatal",
		env:      with(existing, "LOG_LEVEL", "FATAL"),
		want:     map[string]any{"agent.log_level": "error"},
		findings: []string{"note PROVIDER_SERVICE", "note LOG_LEVEL"},
	},
	{
		name:     "LOG_LEVEL unknown",
		env:      with(existing, "LOG_LEVEL", "verbose"),
		want:     map[string]any{"agent.log_level": "info"},
		findings: []string{"note PROVIDER_SERVICE", "note LOG_LEVEL"},
	},
	{
		name: "BACKUP and CERT_SECRET",
		env:  with(register, "BACKUP", "read+write", "CERT_SECRET", "sia-backup"),
		want: map[string]any{
			"backup.plugin":           "sia-plugin-k8s-secret",
			"backup.config.secret":    "sia-backup",
			"backup.config.namespace": "${NAMESPACE}",
			"backup.config.mode":      "read+write",
			"backup.config.key_file":  "/var/run/athenz/service.key.pem",
			"backup.config.cert_file": "/var/run/athenz/service.cert.pem",
		},
	},
	{
		name:     "BACKUP write without PROVIDER_SERVICE",
		env:      with(existing, "BACKUP", "write,read", "CERT_SECRET", "sia-backup"),
		want:     map[string]any{"backup.config.mode": "read", "backup.config.namespace": absent},
		findings: []string{"note PROVIDER_SERVICE", "note BACKUP"},
	},
	{
		name:     "BACKUP without CERT_SECRET",
		env:      with(register, "BACKUP", "read"),
		want:     map[string]any{"backup": absent},
		findings: []string{"invalid BACKUP"},
	},
	{
		name:     "BACKUP naming neither",
		env:      with(register, "BACKUP", "none", "CERT_SECRET", "sia-backup"),
		findings: []string{"invalid BACKUP"},
	},
	{
		name:     "CERT_SECRET without BACKUP",
		env:      with(register, "CERT_SECRET", "sia-backup"),
		want:     map[string]any{"backup": absent},
		findings: []string{"note CERT_SECRET"},
	},
	{
		name:     "LOG_DIR",
		env:      with(existing, "LOG_DIR", "/var/log/athenz-sia"),
		want:     map[string]any{"agent.log_file.path": "/var/log/athenz-sia/sia-agent.log"},
		findings: []string{"note PROVIDER_SERVICE"},
	},
	{
		name:     "DELAY_JITTER_SECONDS",
		env:      with(existing, "DELAY_JITTER_SECONDS", "30"),
		want:     map[string]any{"agent.start_jitter": "30s"},
		findings: []string{"note PROVIDER_SERVICE"},
	},
	{
		name:     "DELAY_JITTER_SECONDS beyond the agent's bound",
		env:      with(existing, "DELAY_JITTER_SECONDS", "7200"),
		want:     map[string]any{"agent.start_jitter": "1h"},
		findings: []string{"note PROVIDER_SERVICE", "unsupported DELAY_JITTER_SECONDS"},
	},
	{
		name:     "POD_NAME without a metrics server",
		env:      with(existing, "POD_NAME", "app-0"),
		findings: []string{"note PROVIDER_SERVICE", "note POD_NAME"},
	},
	{
		name:     "DELAY_JITTER_SECONDS 0",
		env:      with(existing, "DELAY_JITTER_SECONDS", "0"),
		want:     map[string]any{"agent.start_jitter": absent},
		findings: []string{"note PROVIDER_SERVICE"},
	},
	{
		name:     "DELAY_JITTER_SECONDS invalid",
		env:      with(existing, "DELAY_JITTER_SECONDS", "soon"),
		findings: []string{"note PROVIDER_SERVICE", "invalid DELAY_JITTER_SECONDS"},
	},
	{
		name:     "unknown variables of an env file",
		env:      with(existing, "TOKEN_EXPIRE", "10m", "HOME", "/root", "KUBERNETES_SERVICE_HOST", "10.96.0.1"),
		unknown:  true,
		findings: []string{"note PROVIDER_SERVICE", "note HOME", "note KUBERNETES_SERVICE_HOST", "unsupported TOKEN_EXPIRE"},
	},
	{
		// What describes the pod or the container, as `kubectl exec …
		// env` prints it, is never a blocker, even when it looks like a
		// misspelt variable (POD_IPS and POD_IP).
		name: "the pod's own variables in an env file",
		env: with(existing, "POD_IPS", "10.0.0.1,fd00::1", "POD_NAMESPACE", "ns", "HOSTNAME", "api-1",
			"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1", "ZTS_SERVICE_PORT", "4443", "ZTS_PORT_4443_TCP", "tcp://10.96.0.2:4443",
			"PATH", "/bin", "LANG", "C.UTF-8"),
		unknown: true,
		findings: []string{"note PROVIDER_SERVICE", "note POD_IPS", "note POD_NAMESPACE", "note HOSTNAME",
			"note KUBERNETES_PORT_443_TCP_ADDR", "note ZTS_SERVICE_PORT", "note ZTS_PORT_4443_TCP", "note PATH", "note LANG"},
	},
	{
		name:     "unknown variables of the environment",
		env:      with(existing, "TOKEN_EXPIRE", "10m", "HOME", "/root", "KUBERNETES_SERVICE_HOST", "10.96.0.1"),
		findings: []string{"note PROVIDER_SERVICE", "note TOKEN_EXPIRE"},
	},
	{
		name: "a literal $",
		env:  with(existing, "KEY_FILE", "/var/$run/key.pem"),
		want: map[string]any{
			"certificate.config.files.key": "/var/$$run/key.pem",
		},
		findings: []string{"note PROVIDER_SERVICE"},
	},
}

func TestConvert(t *testing.T) {
	plugins := fakePlugins(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := siaenv.Convert(tc.env, siaenv.Options{ReportUnknown: tc.unknown})
			t.Logf("pipeline:\n%s", res.Pipeline)
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.Severity.String()+" "+f.Var)
				if f.Message == "" {
					t.Errorf("finding without a message: %v", f)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.findings))
			if !slices.Equal(got, want) {
				t.Errorf("findings:\n got %q\nwant %q\n%v", got, want, res.Findings)
			}
			if tc.mode != "" && res.Mode != tc.mode {
				t.Errorf("mode %q, want %q", res.Mode, tc.mode)
			}
			if tc.budget != 0 && res.ShutdownBudget != tc.budget {
				t.Errorf("shutdown budget %v, want %v", res.ShutdownBudget, tc.budget)
			}

			var doc map[string]any
			if err := yaml.Unmarshal(res.Pipeline, &doc); err != nil {
				t.Fatalf("the pipeline is not YAML: %v", err)
			}
			for path, want := range tc.want {
				got, ok := lookup(doc, path)
				switch {
				case want == absent && ok:
					t.Errorf("%s = %#v, want it absent", path, got)
				case want != absent && !ok:
					t.Errorf("%s is missing, want %#v", path, want)
				case want != absent && !reflect.DeepEqual(got, want):
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if res.Count(siaenv.Invalid) == 0 {
				validate(t, plugins, res.Pipeline, tc.env)
			}
		})
	}
}

// The backup comes before the cert provider, which takes over the
// identity it restored.
func TestConvertBackupGoesFirst(t *testing.T) {
	res := siaenv.Convert(with(register, "BACKUP", "read", "CERT_SECRET", "sia-backup"), siaenv.Options{})
	var doc struct{ Providers []struct{ Name string } }
	if err := yaml.Unmarshal(res.Pipeline, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Providers) < 2 || doc.Providers[0].Name != "backup" || doc.Providers[1].Name != "certificate" {
		t.Errorf("providers %+v, want backup then certificate\n%s", doc.Providers, res.Pipeline)
	}
}

// Every variable of k8s-athenz-sia is set by some case of the table to a
// value of its own.
func TestConvertCoversEveryVariable(t *testing.T) {
	vars := siaenv.Variables()
	if len(vars) != 54 {
		t.Errorf("%d variables, want k8s-athenz-sia's 54", len(vars))
	}
	for _, v := range vars {
		if !slices.ContainsFunc(cases, func(tc testCase) bool { return tc.env[v] != "" && tc.env[v] != existing[v] }) {
			t.Errorf("no case sets %s", v)
		}
	}
}

func TestSeverityString(t *testing.T) {
	for s, want := range map[siaenv.Severity]string{siaenv.Note: "note", siaenv.Unsupported: "unsupported",
		siaenv.Invalid: "invalid", 0: "Severity(0)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
	f := siaenv.Finding{Var: "LOG_DIR", Severity: siaenv.Unsupported, Message: "no files"}
	if got := f.String(); got != "unsupported: LOG_DIR: no files" {
		t.Errorf("Finding.String() = %q", got)
	}
}

// lookup finds a path of the decoded pipeline.
func lookup(doc map[string]any, path string) (any, bool) {
	first, rest, _ := strings.Cut(path, ".")
	var cur any
	if first == "agent" {
		cur = doc["agent"]
	} else {
		providers, _ := doc["providers"].([]any)
		for _, p := range providers {
			if m, _ := p.(map[string]any); m["name"] == first {
				cur = m
			}
		}
		if cur == nil {
			return nil, false
		}
		if rest == "" {
			return cur, true
		}
	}
	for part := range strings.SplitSeq(rest, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name]; !ok {
			return nil, false
		}
		if hasIdx {
			i, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			list, ok := cur.([]any)
			if !ok || i >= len(list) {
				return nil, false
			}
			cur = list[i]
		}
	}
	return cur, true
}

// fakePlugins makes a directory of executables named as the plugins, so
// that the pipeline loader resolves them; the test validates the configs
// in-process.
func fakePlugins(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{"cert", "token", "metrics", "health", "sia-plugin-k8s-secret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// validate loads the pipeline as the agent would, with env as the
// environment, and has every provider validate its config in-process.
func validate(t *testing.T, pluginDir string, text []byte, env map[string]string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	p, err := pipeline.Parse(file, file, text, pipeline.Options{
		DefaultPluginDir: pluginDir,
		Lookup:           func(name string) (string, bool) { v, ok := env[name]; return v, ok },
	})
	if err != nil {
		t.Fatalf("loading the pipeline: %v", err)
	}
	for _, pr := range p.Enabled() {
		var prov sdk.Provider
		switch pr.Plugin {
		case "cert":
			prov = cert.New()
		case "token":
			prov = &token.Provider{}
		case "metrics":
			prov = &metrics.Provider{}
		case "health":
			prov = &health.Provider{}
		case "sia-plugin-k8s-secret":
			prov = &k8ssecret.Provider{}
		default:
			t.Fatalf("unexpected plugin %q", pr.Plugin)
		}
		if err := prov.Validate(context.Background(), sdk.NewConfig(file, pr.ConfigPath, pr.Config)); err != nil {
			t.Errorf("provider %s: %v", pr.Name, err)
		}
	}
}

func ExampleConvert() {
	res := siaenv.Convert(map[string]string{
		"MODE":                "refresh",
		"KEY_FILE":            "/var/run/athenz/service.key.pem",
		"CERT_FILE":           "/var/run/athenz/service.cert.pem",
		"ENDPOINT":            "https://zts.example.com:4443/zts/v1",
		"TARGET_DOMAIN_ROLES": "sports:role.reader",
		"TOKEN_SERVER_ADDR":   "127.0.0.1:8880",
		"USE_TOKEN_SERVER":    "true",
		"CERT_SECRET":         "api-identity",
	}, siaenv.Options{})
	for _, f := range res.Findings {
		fmt.Println(f)
	}
	// Output:
	// note: PROVIDER_SERVICE: unset: the key and certificate are read from KEY_FILE and CERT_FILE, never written; a replaced pair is picked up at the next refresh, not within a second
	// note: CERT_SECRET: ignored: no BACKUP names what to do with the Secret (k8s-athenz-sia ignored it too)
}
