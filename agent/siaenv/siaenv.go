// Package siaenv converts the environment variables that configure
// k8s-athenz-sia into a sia-agent pipeline, so that a deployment of
// k8s-athenz-sia switches to sia-agent by changing its image and command,
// not its configuration.
//
// Every variable is either mapped, with a comment in the pipeline naming
// it, or reported: a Note when sia-agent does the same job somewhat
// differently, Unsupported when it has no equivalent (the behaviour would
// change), Invalid when k8s-athenz-sia itself would have refused the value.
package siaenv

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Severity is how much a finding matters to the conversion.
type Severity int

// Severities, from the least to the most serious.
const (
	// Note: mapped, with a difference worth knowing.
	Note Severity = iota + 1
	// Unsupported: sia-agent has no equivalent; the behaviour changes.
	Unsupported
	// Invalid: k8s-athenz-sia would have refused the value too.
	Invalid
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Unsupported:
		return "unsupported"
	case Invalid:
		return "invalid"
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// Finding is something the conversion reports about one variable.
type Finding struct {
	Var      string
	Severity Severity
	Message  string
}

func (f Finding) String() string { return f.Severity.String() + ": " + f.Var + ": " + f.Message }

// Options tune Convert.
type Options struct {
	// ReportUnknown reports the variables that are not k8s-athenz-sia's:
	// a likely typo of one of its (TOKEN_EXPIRE) as unsupported, since a
	// setting would be lost, any other with a note. That is right for an
	// env file, which holds the agent's settings; a process environment
	// holds PATH, HOME and the like, so without it only likely typos are
	// noted.
	ReportUnknown bool
}

// Result is a converted configuration.
type Result struct {
	// Pipeline is the pipeline file.
	Pipeline []byte
	// Mode is the mode k8s-athenz-sia ran in: "init" or "refresh", the
	// value for `sia-agent run --mode`.
	Mode string
	// ShutdownBudget is the longest the agent's shutdown can take: the
	// providers' shutdown timeouts added up.
	ShutdownBudget time.Duration
	// Findings are in the order of the variables' effect on the pipeline;
	// unknown variables come last.
	Findings []Finding
}

// Count returns the number of findings of severity s.
func (r *Result) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Provider names in the pipeline: those of k8s-athenz-sia's daemons, so
// that log lines ("Skipped token start") read the same.
const (
	certName   = "certificate"
	tokenName  = "token"
	metricName = "metrics"
	healthName = "healthcheck"
)

// Shutdown timeouts: the agent's default for each provider, and the
// margin the token server gets beyond its own delay and drain.
const (
	defaultShutdownTimeout = 10 * time.Second
	tokenShutdownMargin    = 5 * time.Second
	// defaultTokenShutdownTimeout is k8s-athenz-sia's SHUTDOWN_TIMEOUT.
	defaultTokenShutdownTimeout = 5 * time.Second
)

// Convert builds a pipeline from env, k8s-athenz-sia's environment
// variables. It never fails: what it cannot convert is in the findings,
// and the pipeline is only as good as they allow.
func Convert(env map[string]string, opts Options) *Result {
	c := &converter{env: env, used: make(map[string]bool)}
	r := &Result{Mode: c.mode()}

	agent := newObject()
	agent.str("log_level", c.logLevel(), "LOG_LEVEL")
	agent.str("shutdown_timeout", sdk.Duration(defaultShutdownTimeout).String(), "")

	providers := &yaml.Node{Kind: yaml.SequenceNode}
	add := func(name, plugin string, shutdown time.Duration, cfg *object) {
		p := newObject()
		p.str("name", name, "")
		p.str("plugin", plugin, "")
		if shutdown != defaultShutdownTimeout {
			p.str("shutdown_timeout", sdk.Duration(shutdown).String(), "")
		}
		p.set("config", cfg.node, "")
		providers.Content = append(providers.Content, p.node)
		r.ShutdownBudget += shutdown
	}
	id, cert := c.certificate()
	add(certName, "cert", defaultShutdownTimeout, cert)
	token, shutdown := c.token(id)
	if token != nil {
		add(tokenName, "token", shutdown, token)
	}
	if c.get("ENDPOINT") == "" && (id.register || id.roleCertDir != "" || token != nil) {
		c.invalid("ENDPOINT", "required: the ZTS URL, e.g. https://zts.example.com:4443/zts/v1")
	}
	if metrics := c.metrics(id); metrics != nil {
		add(metricName, "metrics", defaultShutdownTimeout, metrics)
	}
	if health := c.health(); health != nil {
		add(healthName, "health", defaultShutdownTimeout, health)
	}
	c.unsupportedFeatures()
	c.leftovers(opts.ReportUnknown)

	doc := newObject()
	doc.set("version", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"}, "")
	doc.set("agent", agent.node, "")
	doc.set("providers", providers, "")
	root := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: c.header(r), Content: []*yaml.Node{doc.node}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		// The document is built of strings, bools and an int.
		panic("siaenv: encoding the pipeline: " + err.Error())
	}
	if err := enc.Close(); err != nil {
		panic("siaenv: encoding the pipeline: " + err.Error())
	}
	r.Pipeline = b.Bytes()
	r.Findings = c.findings
	return r
}

// header is the comment atop the pipeline: where it came from and how to
// run it.
// minTokenLifetime is the token provider's default cache.min_token_lifetime.
const minTokenLifetime = time.Minute

func (c *converter) header(r *Result) string {
	var b strings.Builder
	b.WriteString("Converted from k8s-athenz-sia's environment by `sia-agent convert`; each value's\n")
	b.WriteString("comment names the variable it came from.\n")
	fmt.Fprintf(&b, "Run it as k8s-athenz-sia ran (MODE=%s):\n", r.Mode)
	if r.Mode == "init" {
		b.WriteString("  sia-agent run --config pipeline.yaml --mode init\n")
	} else {
		b.WriteString("  sia-agent run --config pipeline.yaml\n")
	}
	var pod []string
	for _, v := range Variables() {
		if isPodVariable(v) && c.referenced[v] {
			pod = append(pod, v)
		}
	}
	if len(pod) > 0 {
		fmt.Fprintf(&b, "It reads %s from the environment, as k8s-athenz-sia did.\n", strings.Join(pod, ", "))
	}
	fmt.Fprintf(&b, "Shutdown takes at most %v (the providers' shutdown_timeout added up): keep\n", r.ShutdownBudget)
	b.WriteString("a pod's terminationGracePeriodSeconds, or systemd's TimeoutStopSec, above it.")
	return b.String()
}

type converter struct {
	env        map[string]string
	used       map[string]bool // variables looked at
	referenced map[string]bool // pod variables the pipeline refers to
	findings   []Finding
}

// get returns a variable's value and marks it as looked at. As in
// k8s-athenz-sia (athenz.EnvOrDefault), an empty value is as good as none.
func (c *converter) get(name string) string {
	c.used[name] = true
	return c.env[name]
}

// list splits a comma-separated variable, trimming entries and dropping
// empty ones, as k8s-athenz-sia does.
func (c *converter) list(name string) []string {
	var out []string
	for _, v := range strings.Split(c.get(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// duration parses a Go duration; ok is false when the variable is unset
// or invalid (which is reported).
func (c *converter) duration(name string) (d time.Duration, ok bool) {
	v := c.get(name)
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		c.invalid(name, "%q is not a duration (e.g. 30s, 5m, 24h)", v)
		return 0, false
	}
	return d, true
}

// boolean parses a boolean as strconv.ParseBool does.
func (c *converter) boolean(name string) bool {
	v := c.get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		c.invalid(name, "%q is not a boolean (true or false)", v)
	}
	return b
}

// literal returns a value for the pipeline, where "$" would start a
// variable reference.
func literal(v string) string { return strings.ReplaceAll(v, "$", "$$") }

// ref returns a reference to pod variable name, which must be set.
func (c *converter) ref(name string) string {
	if c.referenced == nil {
		c.referenced = make(map[string]bool)
	}
	c.referenced[name] = true
	return "${" + name + "}"
}

func (c *converter) report(name string, s Severity, format string, args ...any) {
	c.findings = append(c.findings, Finding{Var: name, Severity: s, Message: fmt.Sprintf(format, args...)})
}

func (c *converter) note(name, format string, args ...any) { c.report(name, Note, format, args...) }

func (c *converter) unsupported(name, format string, args ...any) {
	c.report(name, Unsupported, format, args...)
}

func (c *converter) invalid(name, format string, args ...any) {
	c.report(name, Invalid, format, args...)
}

// ignore reports variables that are set but have no effect, in
// k8s-athenz-sia either, because of why; unless they were reported
// already.
func (c *converter) ignore(why string, names ...string) {
	for _, name := range names {
		if c.get(name) != "" && !slices.ContainsFunc(c.findings, func(f Finding) bool { return f.Var == name }) {
			c.note(name, "ignored: %s (k8s-athenz-sia ignored it too)", why)
		}
	}
}

func (c *converter) mode() string {
	switch v := c.get("MODE"); v {
	case "":
		c.note("MODE", "unset, so k8s-athenz-sia's default init: run the pipeline with `sia-agent run --mode init`")
		return "init"
	case "init":
		c.note("MODE", "run the pipeline with `sia-agent run --mode init`")
		return "init"
	case "refresh":
		return "refresh"
	default:
		c.invalid("MODE", "%q is not init or refresh", v)
		return "refresh"
	}
}

func (c *converter) logLevel() string {
	switch v := strings.ToLower(c.get("LOG_LEVEL")); v {
	case "":
		return "info"
	case "trace", "debug", "info", "error":
		return v
	case "warn", "warning":
		return "warn"
	case "fatal", "panic":
		c.note("LOG_LEVEL", "%q is error here, the quietest level", c.env["LOG_LEVEL"])
		return "error"
	default:
		c.note("LOG_LEVEL", "%q is not a level; info, as k8s-athenz-sia fell back to", c.env["LOG_LEVEL"])
		return "info"
	}
}

// identity is what the other providers need of the certificate provider.
type identity struct {
	register          bool // ZTS issues it (PROVIDER_SERVICE)
	keyFile, certFile string
	caCertFile        string // the CA file the provider writes, if any
	roleCertDir       string // "" without role certificates
}

func (c *converter) certificate() (identity, *object) {
	cfg := newObject()
	var id identity
	if v := c.get("ENDPOINT"); v != "" {
		cfg.str("endpoint", literal(v), "ENDPOINT")
	}
	if v := c.get("SERVER_CA_CERT"); v != "" {
		cfg.str("ca_file", literal(v), "SERVER_CA_CERT")
	}

	paths := make(map[string]string)
	for _, name := range []string{"KEY_FILE", "CERT_FILE"} {
		switch list := c.list(name); {
		case len(list) == 0:
			c.invalid(name, "required: k8s-athenz-sia does not start without it")
		case len(list) > 1:
			c.unsupported(name, "the cert provider keeps one file; %s not written (point its readers at %s)",
				strings.Join(list[1:], ", "), list[0])
			fallthrough
		default:
			paths[name] = list[0]
		}
	}
	id.keyFile, id.certFile = paths["KEY_FILE"], paths["CERT_FILE"]

	ident := newObject()
	files := newObject()
	if id.certFile != "" {
		files.str("dir", literal(filepath.Dir(id.certFile)), "")
	}
	files.str("key", literal(id.keyFile), "KEY_FILE")
	files.str("cert", literal(id.certFile), "CERT_FILE")
	if provider := c.get("PROVIDER_SERVICE"); provider != "" {
		id.register = true
		ident.str("mode", "register", "PROVIDER_SERVICE")
		ident.str("provider", literal(provider), "PROVIDER_SERVICE")
		c.registration(ident)
		if v := c.get("CA_CERT_FILE"); v != "" {
			files.str("ca_cert", literal(v), "CA_CERT_FILE")
			id.caCertFile = v
		} else {
			files.str("ca_cert", "", "CA_CERT_FILE unset: none written")
		}
	} else {
		ident.str("mode", "existing", "PROVIDER_SERVICE unset")
		c.note("PROVIDER_SERVICE", "unset: the key and certificate are read from KEY_FILE and CERT_FILE, never written; "+
			"a replaced pair is picked up at the next refresh, not within a second")
		c.ignore("without PROVIDER_SERVICE no identity is requested", "NAMESPACE", "ATHENZ_DOMAIN", "ATHENZ_PREFIX",
			"ATHENZ_SUFFIX", "SA_TOKEN_FILE", "POD_UID", "DNS_SUFFIX", "CERT_EXTRA_SAN_DNS", "DELETE_INSTANCE_ID", "CA_CERT_FILE")
		if c.get("SERVICEACCOUNT") != "" {
			c.note("SERVICEACCOUNT", "ignored: without PROVIDER_SERVICE the identity is the certificate's; "+
				"access tokens do not add `openid <domain>:service.<sa>` to their scope")
		}
	}
	if ip := c.get("POD_IP"); ip != "" {
		if net.ParseIP(ip) == nil {
			c.invalid("POD_IP", "%q is not an IP address", ip)
		}
		ident.strs("ips", []string{c.ref("POD_IP")}, "POD_IP")
	}
	c.subject(ident)
	cfg.set("identity", ident.node, "")
	cfg.set("files", files.node, "")
	if c.get("INTERMEDIATE_CERT_BUNDLE") != "" {
		c.unsupported("INTERMEDIATE_CERT_BUNDLE", "role certificate files hold the certificate alone; "+
			"no intermediate bundle is fetched or appended")
	}
	id.roleCertDir = c.roleCerts(cfg)

	switch d, ok := c.duration("REFRESH_INTERVAL"); {
	case !ok:
	case d == 0:
		c.note("REFRESH_INTERVAL", "0 turned refreshing off; here certificates are refreshed at half their remaining lifetime")
	default:
		refresh := cfg.object("refresh")
		refresh.str("interval", sdk.Duration(d).String(), "REFRESH_INTERVAL")
		if d < 10*time.Second { // the cert provider's default min_interval
			refresh.str("min_interval", sdk.Duration(d).String(), "REFRESH_INTERVAL")
		}
	}
	return id, cfg
}

// registration maps the instance's identity: mode register.
func (c *converter) registration(ident *object) {
	if domain, from := c.domain(); domain != "" {
		ident.str("domain", domain, from)
	} else {
		c.invalid("NAMESPACE", "required with PROVIDER_SERVICE, or ATHENZ_DOMAIN: the identity's Athenz domain")
	}
	if c.get("SERVICEACCOUNT") != "" {
		ident.str("service", c.ref("SERVICEACCOUNT"), "SERVICEACCOUNT")
		c.note("SERVICEACCOUNT", "access tokens do not add `openid <domain>:service.<sa>` to their scope (k8s-athenz-sia "+
			"asked for an ID token it never used)")
	} else {
		c.invalid("SERVICEACCOUNT", "required with PROVIDER_SERVICE: the identity's Athenz service")
	}
	if c.get("POD_UID") != "" {
		ident.str("instance_id", c.ref("POD_UID"), "POD_UID")
	} else {
		c.invalid("POD_UID", "required with PROVIDER_SERVICE: the instance id")
	}
	if v := c.get("SA_TOKEN_FILE"); v != "" {
		ident.str("attestation_file", literal(v), "SA_TOKEN_FILE")
	} else {
		c.invalid("SA_TOKEN_FILE", "required with PROVIDER_SERVICE: the attestation data, e.g. a projected service account token")
	}
	if v := c.get("DNS_SUFFIX"); v != "" {
		ident.str("dns_suffix", literal(v), "DNS_SUFFIX")
	}
	if extra := c.list("CERT_EXTRA_SAN_DNS"); len(extra) > 0 {
		for i := range extra {
			extra[i] = literal(extra[i])
		}
		ident.strs("extra_dns", extra, "CERT_EXTRA_SAN_DNS")
	}
	if c.boolean("DELETE_INSTANCE_ID") {
		ident.boolean("delete_on_shutdown", true, "DELETE_INSTANCE_ID")
	}
}

// domain is ATHENZ_PREFIX + (ATHENZ_DOMAIN or NAMESPACE) + ATHENZ_SUFFIX,
// and the variables it came from.
func (c *converter) domain() (value, from string) {
	prefix, suffix := c.get("ATHENZ_PREFIX"), c.get("ATHENZ_SUFFIX")
	var parts []string
	if prefix != "" {
		parts = append(parts, "ATHENZ_PREFIX")
	}
	switch d, ns := c.get("ATHENZ_DOMAIN"), c.get("NAMESPACE"); {
	case d != "":
		value = literal(d)
		parts = append(parts, "ATHENZ_DOMAIN")
		if ns != "" {
			c.note("NAMESPACE", "ignored for the domain: ATHENZ_DOMAIN is set")
		}
	case ns != "":
		value = c.ref("NAMESPACE")
		parts = append(parts, "NAMESPACE")
	default:
		return "", ""
	}
	if suffix != "" {
		parts = append(parts, "ATHENZ_SUFFIX")
	}
	return literal(prefix) + value + literal(suffix), strings.Join(parts, " + ")
}

// subject maps CERT_SUBJECT, an RFC 4514 distinguished name.
func (c *converter) subject(ident *object) {
	v := c.get("CERT_SUBJECT")
	if v == "" {
		return
	}
	attrs, err := parseDN(v)
	if err != nil {
		c.invalid("CERT_SUBJECT", "%q: %v", v, err)
		return
	}
	keys := map[string]string{"C": "country", "ST": "province", "L": "locality", "O": "organization"}
	sub := newObject()
	seen := make(map[string]bool)
	for _, a := range attrs {
		typ, val := a[0], a[1]
		switch key, ok := keys[typ]; {
		case typ == "CN" || typ == "SERIALNUMBER":
			c.invalid("CERT_SUBJECT", "%s is not allowed: the CN is <domain>.<service> (or <domain>:role.<role>)", typ)
		case typ == "OU":
			c.note("CERT_SUBJECT", "OU=%s ignored: the OU of every request is the instance provider", val)
		case typ == "STREET" || typ == "POSTALCODE":
			c.unsupported("CERT_SUBJECT", "%s=%s: the cert provider sets C, ST, L and O only", typ, val)
		case !ok:
			c.invalid("CERT_SUBJECT", "unknown attribute %s (allowed: C, O, OU, L, ST, STREET, POSTALCODE)", typ)
		case val == "":
			// k8s-athenz-sia drops empty values.
		case seen[typ]:
			c.unsupported("CERT_SUBJECT", "%s=%s: one value per attribute; the first is kept", typ, val)
		default:
			seen[typ] = true
			sub.str(key, literal(val), "CERT_SUBJECT")
		}
	}
	if !sub.empty() {
		ident.set("subject", sub.node, "")
	}
}

// parseDN splits an RFC 4514 distinguished name into (type, value) pairs,
// types upper-cased, values unescaped.
func parseDN(s string) ([][2]string, error) {
	var out [][2]string
	var cur strings.Builder
	typ, inValue := "", false
	flush := func() error {
		if !inValue {
			if strings.TrimSpace(cur.String()) == "" {
				return nil
			}
			return fmt.Errorf("%q has no '=': write TYPE=value, e.g. O=Example", strings.TrimSpace(cur.String()))
		}
		out = append(out, [2]string{strings.ToUpper(strings.TrimSpace(typ)), strings.TrimSpace(cur.String())})
		cur.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' && i+1 < len(s):
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				cur.WriteByte(byte(b))
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
		case ch == '=' && !inValue:
			typ, inValue = cur.String(), true
			cur.Reset()
		case ch == ',' || ch == '+':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

// templateRE matches a k8s-athenz-sia file name template that names files
// as sia-agent does: <dir>/{{domain}}{{delimiter}}{{role}}<extension>.
var templateRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(.+)/\{\{\s*domain\s*\}\}\{\{\s*delimiter\s*\}\}\{\{\s*role\s*\}\}(\.[a-z.]+)$`)
})

// templateDir returns the directory of a template for files with extension
// ext, if sia-agent can write them there under the same names.
func templateDir(template, ext string) (string, bool) {
	m := templateRE().FindStringSubmatch(template)
	if m == nil || m[2] != ext {
		return "", false
	}
	return m[1], true
}

// targets are TARGET_DOMAIN_ROLES's entries: <domain>:role.<role>, or a
// domain alone (tokens for every role the identity has there).
type target struct{ domain, role string }

func (c *converter) targets() []target {
	var out []target
	for _, e := range c.list("TARGET_DOMAIN_ROLES") {
		d, r, _ := strings.Cut(e, ":role.")
		out = append(out, target{domain: d, role: r})
	}
	return out
}

// roleCerts maps the role certificate variables and returns the directory
// the certificates are written to, or "" when there are none.
func (c *converter) roleCerts(cfg *object) string {
	dir, format := c.get("ROLECERT_DIR"), c.get("ROLE_CERT_NAMING_FORMAT")
	keyFormat := c.get("ROLE_CERT_KEY_NAMING_FORMAT")
	keyOutput := c.boolean("ROLE_CERT_KEY_FILE_OUTPUT")
	delimiter := c.get("ROLE_CERT_FILENAME_DELIMITER")
	from := "ROLECERT_DIR"
	var roles []string
	if dir != "" || format != "" {
		for _, t := range c.targets() {
			if t.role != "" {
				roles = append(roles, literal(t.domain+":role."+t.role))
			}
		}
	}
	switch {
	case dir != "" && format != "":
		c.invalid("ROLE_CERT_NAMING_FORMAT", "set together with ROLECERT_DIR: set one of them")
		return ""
	case dir != "" && keyFormat != "":
		c.invalid("ROLE_CERT_KEY_NAMING_FORMAT", "set together with ROLECERT_DIR: set one of them")
		return ""
	case format != "":
		d, ok := templateDir(format, ".cert.pem")
		if !ok {
			c.unsupported("ROLE_CERT_NAMING_FORMAT", "%q: role certificates are named <dir>/{{domain}}{{delimiter}}{{role}}.cert.pem; "+
				"none are requested", format)
			return ""
		}
		dir, from = d, "ROLE_CERT_NAMING_FORMAT"
	}
	if keyFormat != "" {
		if d, ok := templateDir(keyFormat, ".key.pem"); ok && d == dir {
			keyOutput = true
		} else {
			c.unsupported("ROLE_CERT_KEY_NAMING_FORMAT", "%q: role keys are named <dir>/{{domain}}{{delimiter}}{{role}}.key.pem, "+
				"next to the certificates; none are written", keyFormat)
			keyOutput = false
		}
	}
	if keyOutput && dir == "" {
		c.invalid("ROLE_CERT_KEY_FILE_OUTPUT", "needs ROLECERT_DIR")
	}
	switch {
	case dir == "":
		c.ignore("no ROLECERT_DIR: no role certificates", "ROLE_CERT_FILENAME_DELIMITER")
		return ""
	case len(roles) == 0:
		c.note(from, "no <domain>:role.<role> entry in TARGET_DOMAIN_ROLES: no role certificates")
		return ""
	}
	rc := cfg.object("role_certs")
	rc.strs("targets", roles, "TARGET_DOMAIN_ROLES")
	rc.str("dir", literal(dir), from)
	if delimiter != "" {
		rc.str("delimiter", literal(delimiter), "ROLE_CERT_FILENAME_DELIMITER")
	}
	if keyOutput {
		rc.boolean("key_output", true, "ROLE_CERT_KEY_FILE_OUTPUT")
	}
	return dir
}

// token maps the token cache, files and server, and returns the provider's
// config and its shutdown timeout. It returns nil when nobody could see a
// token: no server and no files.
func (c *converter) token(id identity) (*object, time.Duration) {
	tokenType := c.get("TOKEN_TYPE")
	if tokenType == "" {
		tokenType = "accesstoken" // k8s-athenz-sia's default
	}
	var types []string
	for _, t := range []string{"accesstoken", "roletoken"} {
		if strings.Contains(tokenType, t) {
			types = append(types, t)
		}
	}
	tokenVars := []string{"TOKEN_REFRESH_INTERVAL", "TOKEN_EXPIRY", "TOKEN_DIR", "ACCESS_TOKEN_NAMING_FORMAT",
		"ROLE_TOKEN_NAMING_FORMAT", "ACCESS_TOKEN_FILENAME_DELIMITER", "ROLE_TOKEN_FILENAME_DELIMITER",
		"TOKEN_SERVER_ADDR", "TOKEN_SERVER_REST_API", "USE_TOKEN_SERVER", "ROLE_AUTH_HEADER", "TOKEN_SERVER_TIMEOUT",
		"TOKEN_SERVER_TLS_CERT_PATH", "TOKEN_SERVER_TLS_KEY_PATH", "TOKEN_SERVER_TLS_CA_PATH", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT"}
	if len(types) == 0 {
		c.note("TOKEN_TYPE", "%q names neither accesstoken nor roletoken: no tokens", tokenType)
		c.ignore("TOKEN_TYPE names no token type", tokenVars...)
		return nil, 0
	}
	files := c.tokenFiles(types)
	addr := c.get("TOKEN_SERVER_ADDR")
	rest, header := c.boolean("TOKEN_SERVER_REST_API"), c.boolean("USE_TOKEN_SERVER")
	if addr != "" && !rest && !header {
		c.note("TOKEN_SERVER_ADDR", "neither TOKEN_SERVER_REST_API nor USE_TOKEN_SERVER is true: k8s-athenz-sia answered 404 to "+
			"everything there; no token server")
		addr = ""
	}
	if files == nil && addr == "" {
		c.ignore("neither TOKEN_SERVER_ADDR nor TOKEN_DIR: no token could be used", tokenVars...)
		return nil, 0
	}

	cfg := newObject()
	if v := c.get("ENDPOINT"); v != "" {
		cfg.str("endpoint", literal(v), "ENDPOINT")
	}
	if v := c.get("SERVER_CA_CERT"); v != "" {
		cfg.str("ca_file", literal(v), "SERVER_CA_CERT")
	}
	cfg.str("key_file", literal(id.keyFile), "KEY_FILE")
	cfg.str("cert_file", literal(id.certFile), "CERT_FILE")
	cfg.strs("token_types", types, "TOKEN_TYPE")
	if _, ok := c.duration("TOKEN_REFRESH_INTERVAL"); ok {
		c.note("TOKEN_REFRESH_INTERVAL", "tokens are refreshed ahead of their own expiry (refresh.min_remaining), not at a fixed interval")
	}
	if d, ok := c.duration("TOKEN_EXPIRY"); ok && d != 0 {
		switch {
		case d%time.Second != 0:
			c.invalid("TOKEN_EXPIRY", "%v is not whole seconds", d)
		case d < minTokenLifetime:
			c.unsupported("TOKEN_EXPIRY", "%v is shorter than the token provider caches (cache.min_token_lifetime, %v): every token would be fetched again at once; the pipeline leaves the lifetime to ZTS; set token_expiry to at least %v", d, minTokenLifetime, minTokenLifetime)
		default:
			cfg.str("token_expiry", sdk.Duration(d).String(), "TOKEN_EXPIRY")
		}
	}
	targets := c.targets()
	if len(targets) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, t := range targets {
			o := newObject()
			o.str("domain", literal(t.domain), "")
			if t.role != "" {
				o.strs("roles", []string{literal(t.role)}, "")
			}
			o.node.Style = yaml.FlowStyle
			seq.Content = append(seq.Content, o.node)
		}
		cfg.set("targets", seq, "TARGET_DOMAIN_ROLES")
	}
	if files != nil {
		if len(targets) == 0 {
			c.note("TOKEN_DIR", "no TARGET_DOMAIN_ROLES: no token files")
		}
		cfg.set("files", files.node, "")
	}
	if addr == "" {
		cfg.object("server").boolean("enabled", false, "no TOKEN_SERVER_ADDR")
		c.ignore("no token server", "ROLE_AUTH_HEADER", "TOKEN_SERVER_TIMEOUT", "TOKEN_SERVER_TLS_CERT_PATH",
			"TOKEN_SERVER_TLS_KEY_PATH", "TOKEN_SERVER_TLS_CA_PATH", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT")
		return cfg, defaultShutdownTimeout
	}
	cfg.str("address", literal(addr), "TOKEN_SERVER_ADDR")
	server := cfg.object("server")
	server.boolean("enabled", true, "TOKEN_SERVER_ADDR")
	server.boolean("header_mode", header, "USE_TOKEN_SERVER")
	server.boolean("rest_api", rest, "TOKEN_SERVER_REST_API")
	return cfg, c.tokenServer(server)
}

// tokenFiles maps the token file variables for the enabled types; nil
// when no files are written.
func (c *converter) tokenFiles(types []string) *object {
	type kind struct{ name, format, delimiter, ext string }
	var kinds []kind
	for _, k := range []kind{
		{"accesstoken", "ACCESS_TOKEN_NAMING_FORMAT", "ACCESS_TOKEN_FILENAME_DELIMITER", ".accesstoken"},
		{"roletoken", "ROLE_TOKEN_NAMING_FORMAT", "ROLE_TOKEN_FILENAME_DELIMITER", ".roletoken"},
	} {
		if slices.Contains(types, k.name) {
			kinds = append(kinds, k)
		} else {
			c.ignore("TOKEN_TYPE does not name "+k.name, k.format, k.delimiter)
		}
	}

	dir, from := c.get("TOKEN_DIR"), "TOKEN_DIR"
	for _, k := range kinds {
		format := c.get(k.format)
		if format == "" {
			continue
		}
		d, ok := templateDir(format, k.ext)
		switch {
		case c.env["TOKEN_DIR"] != "":
			c.invalid(k.format, "set together with TOKEN_DIR: set one of them")
		case !ok:
			c.unsupported(k.format, "%q: token files are named <dir>/{{domain}}{{delimiter}}{{role}}%s; none are written", format, k.ext)
		case dir != "" && d != dir:
			c.unsupported(k.format, "%q: access and role token files go to one directory, %s", format, dir)
		default:
			dir, from = d, k.format
		}
	}
	if dir == "" {
		for _, k := range kinds {
			c.ignore("no TOKEN_DIR: no token files", k.delimiter)
		}
		return nil
	}

	delimiter, delimiterFrom := "", ""
	for _, k := range kinds {
		d := c.get(k.delimiter)
		if d == "" {
			d = ":role." // k8s-athenz-sia's default
		}
		switch {
		case delimiterFrom == "":
			delimiter, delimiterFrom = d, k.delimiter
		case d != delimiter:
			c.unsupported(k.delimiter, "%q: one delimiter for both kinds of token file; %q (%s) is used", d, delimiter, delimiterFrom)
		}
	}
	files := newObject()
	files.str("dir", literal(dir), from)
	files.str("mode", "0644", "k8s-athenz-sia's mode: readable by other users")
	if delimiter != ":role." {
		files.str("delimiter", literal(delimiter), delimiterFrom)
	}
	return files
}

// tokenServer maps the settings of a token server that is on and returns
// the token provider's shutdown timeout.
func (c *converter) tokenServer(server *object) time.Duration {
	if v := c.get("ROLE_AUTH_HEADER"); v != "" {
		server.str("role_auth_header", literal(v), "ROLE_AUTH_HEADER")
	}
	if d, ok := c.duration("TOKEN_SERVER_TIMEOUT"); ok && d > 0 {
		server.str("request_timeout", sdk.Duration(d).String(), "TOKEN_SERVER_TIMEOUT")
		// A response must be written after the request timed out with
		// 503; the token provider's default write timeout is 10s.
		if d >= 10*time.Second {
			server.str("write_timeout", sdk.Duration(d+5*time.Second).String(), "TOKEN_SERVER_TIMEOUT + 5s")
		}
	}
	delay, _ := c.duration("SHUTDOWN_DELAY")
	if delay > 0 {
		server.str("shutdown_delay", sdk.Duration(delay).String(), "SHUTDOWN_DELAY")
	}
	drain := defaultTokenShutdownTimeout
	if d, ok := c.duration("SHUTDOWN_TIMEOUT"); ok && d > 0 {
		drain = d
		server.str("shutdown_timeout", sdk.Duration(d).String(), "SHUTDOWN_TIMEOUT")
	}

	certPath, keyPath, caPath := c.get("TOKEN_SERVER_TLS_CERT_PATH"), c.get("TOKEN_SERVER_TLS_KEY_PATH"), c.get("TOKEN_SERVER_TLS_CA_PATH")
	switch {
	case certPath != "" && keyPath != "":
		tls := server.object("tls")
		tls.str("cert_file", literal(certPath), "TOKEN_SERVER_TLS_CERT_PATH")
		tls.str("key_file", literal(keyPath), "TOKEN_SERVER_TLS_KEY_PATH")
		if caPath != "" {
			tls.str("client_ca_file", literal(caPath), "TOKEN_SERVER_TLS_CA_PATH")
			c.note("TOKEN_SERVER_TLS_CA_PATH", "client certificates must be signed by these CAs alone; "+
				"k8s-athenz-sia trusted the system roots as well")
		}
	case certPath != "":
		c.invalid("TOKEN_SERVER_TLS_KEY_PATH", "required with TOKEN_SERVER_TLS_CERT_PATH")
	case keyPath != "":
		c.invalid("TOKEN_SERVER_TLS_CERT_PATH", "required with TOKEN_SERVER_TLS_KEY_PATH")
	case caPath != "":
		c.invalid("TOKEN_SERVER_TLS_CA_PATH", "mTLS needs TOKEN_SERVER_TLS_CERT_PATH and TOKEN_SERVER_TLS_KEY_PATH too")
	}
	return max(defaultShutdownTimeout, delay+drain+tokenShutdownMargin)
}

func (c *converter) metrics(id identity) *object {
	addr := c.get("METRICS_SERVER_ADDR")
	if addr == "" {
		c.ignore("no METRICS_SERVER_ADDR: no metrics, and no k8s_pod label", "POD_NAME")
		return nil
	}
	cfg := newObject()
	cfg.str("address", literal(addr), "METRICS_SERVER_ADDR")
	var files []string
	for _, f := range []string{id.certFile, id.caCertFile} {
		if f != "" {
			files = append(files, literal(f))
		}
	}
	if id.roleCertDir != "" {
		files = append(files, literal(filepath.Join(id.roleCertDir, "*.cert.pem")))
	}
	if len(files) > 0 {
		cfg.strs("x509_files", files, "the certificate files")
	}
	// Its users' dashboards and alerts query k8s-athenz-sia's names and
	// labels: export them too.
	compat := cfg.object("k8s_athenz_sia")
	compat.boolean("enabled", true, "k8s-athenz-sia's metric names, beside sia-agent's")
	if c.get("NAMESPACE") != "" {
		compat.str("k8s_namespace", c.ref("NAMESPACE"), "NAMESPACE")
	}
	if c.get("POD_NAME") != "" {
		compat.str("k8s_pod", c.ref("POD_NAME"), "POD_NAME")
	}
	return cfg
}

func (c *converter) health() *object {
	addr, endpoint := c.get("HEALTH_CHECK_ADDR"), c.get("HEALTH_CHECK_ENDPOINT")
	if addr == "" {
		c.ignore("no HEALTH_CHECK_ADDR: no health server", "HEALTH_CHECK_ENDPOINT")
		return nil
	}
	switch endpoint {
	case "/healthz":
	case "":
		c.note("HEALTH_CHECK_ADDR", "HEALTH_CHECK_ENDPOINT is unset (k8s-athenz-sia panicked): probes go to /healthz and /readyz")
	default:
		c.unsupported("HEALTH_CHECK_ENDPOINT", "%q: the health provider serves /healthz (liveness) and /readyz (readiness); "+
			"point the probes there", endpoint)
	}
	cfg := newObject()
	cfg.str("address", literal(addr), "HEALTH_CHECK_ADDR")
	return cfg
}

// unsupportedFeatures reports the variables of features sia-agent does not
// have.
func (c *converter) unsupportedFeatures() {
	if c.get("LOG_DIR") != "" {
		c.unsupported("LOG_DIR", "the agent logs to standard error only (journald, kubectl logs); no log files are written")
	}
	if v := c.get("DELAY_JITTER_SECONDS"); v != "" && v != "0" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			c.invalid("DELAY_JITTER_SECONDS", "%q is not a number of seconds", v)
		} else {
			c.unsupported("DELAY_JITTER_SECONDS", "the agent starts at once; refreshes are jittered (refresh.jitter of the cert provider)")
		}
	}
	if v := c.get("BACKUP"); v != "" {
		c.unsupported("BACKUP", "%q: no Kubernetes Secret backup of the identity; init mode fetches it from ZTS", v)
	}
	if c.get("CERT_SECRET") != "" {
		c.unsupported("CERT_SECRET", "no Kubernetes Secret backup of the identity")
	}
}

// leftovers reports the variables nothing looked at: k8s-athenz-sia's
// that this configuration does not use, and the others (see
// Options.ReportUnknown).
func (c *converter) leftovers(reportUnknown bool) {
	known := Variables()
	for _, name := range known {
		if c.env[name] != "" && !c.used[name] {
			c.note(name, "ignored: nothing in this configuration uses it")
		}
	}
	var unknown []string
	for name := range c.env {
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		switch s := closest(name, known); {
		case s != "" && reportUnknown:
			c.unsupported(name, "not a k8s-athenz-sia variable (did you mean %s?)", s)
		case s != "":
			c.note(name, "not a k8s-athenz-sia variable: ignored (did you mean %s?)", s)
		case reportUnknown:
			c.note(name, "not a k8s-athenz-sia variable: ignored")
		}
	}
}

// closest returns the name in names nearest to name, if it is near enough
// to be a likely typo: one letter in five wrong at most, and two. Short
// names get no suggestion: HOME is not a typo of MODE.
func closest(name string, names []string) string {
	if len(name) < 6 {
		return ""
	}
	best, bestDist := "", min(max(len(name)/5, 1), 2)+1
	for _, n := range names {
		if d := conf.Distance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}
