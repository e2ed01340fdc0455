// Package siaenv converts the environment variables that configure
// k8s-athenz-sia into a sia-agent pipeline, so that a deployment of
// k8s-athenz-sia switches to sia-agent by changing its image and command,
// not its configuration.
//
// Each provider's config is built in the provider's own config type
// (cert.Config, token.Config, metrics.Config, health.Config), so that a
// renamed field breaks this package's build, and written with the keys of
// that type, the fields set alone.
//
// Every variable is either mapped, with a comment in the pipeline naming
// it, or reported: a Note when sia-agent does the same job somewhat
// differently, Unsupported when it has no equivalent (the behaviour would
// change), Invalid when k8s-athenz-sia itself would have refused the value.
package siaenv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	if dir := c.get("LOG_DIR"); dir != "" {
		logFile := newObject()
		logFile.str("path", literal(filepath.Join(dir, "sia-agent.log")), "LOG_DIR")
		agent.set("log_file", logFile.node, "as well as standard error, rotated at 10 MB, 5 kept")
	}
	if d := c.startJitter(); d > 0 {
		agent.str("start_jitter", sdk.Duration(d).String(), "DELAY_JITTER_SECONDS")
	}

	providers := &yaml.Node{Kind: yaml.SequenceNode}
	add := func(name, plugin string, shutdown time.Duration, cfg *yaml.Node) {
		p := newObject()
		p.str("name", name, "")
		p.str("plugin", plugin, "")
		if shutdown != defaultShutdownTimeout {
			p.str("shutdown_timeout", sdk.Duration(shutdown).String(), "")
		}
		p.set("config", cfg, "")
		providers.Content = append(providers.Content, p.node)
		r.ShutdownBudget += shutdown
	}
	id, cert := c.certificate()
	if backup := c.backup(id); backup != nil {
		add(backupName, backupPlugin, defaultShutdownTimeout, backup.node())
	}
	add(certName, "cert", defaultShutdownTimeout, cert.node())
	token, shutdown := c.token(id)
	if token != nil {
		add(tokenName, "token", shutdown, token.node())
	}
	if c.get("ENDPOINT") == "" && (id.register || id.roleCertGlob != "" || token != nil) {
		c.invalid("ENDPOINT", "required: the ZTS URL, e.g. https://zts.example.com:4443/zts/v1")
	}
	if metrics := c.metrics(id); metrics != nil {
		add(metricName, "metrics", defaultShutdownTimeout, metrics.node())
	}
	if health := c.health(); health != nil {
		add(healthName, "health", defaultShutdownTimeout, health.node())
	}
	c.leftovers(opts.ReportUnknown)

	doc := newObject()
	doc.set("version", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"}, "")
	doc.set("agent", agent.node, "")
	doc.set("providers", providers, "")
	root := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: c.header(r), Content: []*yaml.Node{doc.node}}
	r.Pipeline = encode(root)
	r.Findings = c.findings
	return r
}

// encode writes the pipeline's document.
func encode(root *yaml.Node) []byte {
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
	return b.Bytes()
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

// maxStartJitter is the agent's bound on agent.start_jitter.
const maxStartJitter = time.Hour

// startJitter maps DELAY_JITTER_SECONDS to agent.start_jitter; 0 for none.
func (c *converter) startJitter() time.Duration {
	v := c.get("DELAY_JITTER_SECONDS")
	if v == "" || v == "0" {
		return 0
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		c.invalid("DELAY_JITTER_SECONDS", "%q is not a number of seconds", v)
		return 0
	case time.Duration(n)*time.Second > maxStartJitter:
		c.unsupported("DELAY_JITTER_SECONDS", "%s: agent.start_jitter is at most %v; the pipeline has that", v, maxStartJitter)
		return maxStartJitter
	}
	return time.Duration(n) * time.Second
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
		if describesPod(name) {
			if reportUnknown {
				c.note(name, "describes the pod or the container, not the agent: ignored")
			}
			continue
		}
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
