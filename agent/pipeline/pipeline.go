// Package pipeline loads the agent's pipeline file: which providers run, in
// which order, from which plugin binaries, with which configuration.
//
// Loading is strict. Every problem found (an unknown key, a value of the
// wrong type, an unset ${VAR:?...}, a missing plugin) is reported at once,
// each naming file, line and key.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/hooks"
	"github.com/sia-agent/sia-agent/internal/names"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Version is the pipeline file format this agent reads.
const Version = 1

// Pipeline is a loaded, validated pipeline with its profile applied.
type Pipeline struct {
	File      string // absolute path of the pipeline file
	Profile   string // the profile applied, if any
	Agent     Agent
	Providers []*Provider // every provider in file order, disabled ones included
	// Hooks run when credentials change (docs/hooks.md).
	Hooks hooks.List
}

// Enabled returns the enabled providers in pipeline order.
func (p *Pipeline) Enabled() []*Provider {
	var out []*Provider
	for _, pr := range p.Providers {
		if pr.Enabled {
			out = append(out, pr)
		}
	}
	return out
}

// Agent holds the agent's own settings.
type Agent struct {
	LogLevel        string   `yaml:"log_level"`
	LogFormat       string   `yaml:"log_format"`
	PluginDir       string   `yaml:"plugin_dir"`
	StatusFile      string   `yaml:"status_file"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// RuntimeDir holds the agent's Unix sockets to its plugins; ""
	// chooses one (see DefaultRuntimeDir).
	RuntimeDir string `yaml:"runtime_dir"`
	// PingInterval is how often every plugin is pinged; a plugin that has
	// not answered for UnresponsiveTimeout is killed as if it had crashed
	// (0 never kills it, but readiness still says it is silent).
	PingInterval        Duration `yaml:"ping_interval"`
	UnresponsiveTimeout Duration `yaml:"unresponsive_timeout"`
	// WatchConfig reloads the pipeline when its file changes, as SIGHUP
	// does: for a ConfigMap, whose updates no one signals.
	WatchConfig bool `yaml:"watch_config"`
	// StartJitter delays the launch of the providers, and so the first
	// call to ZTS, by a random part of it, so that agents started together
	// (a rollout, a node's reboot) do not all call at once; 0 starts at
	// once. k8s-athenz-sia's DELAY_JITTER_SECONDS.
	StartJitter Duration `yaml:"start_jitter"`
	// LogFile also writes the log to a file, rotated by size.
	LogFile LogFile `yaml:"log_file"`
}

// LogFile is where the agent also writes its log, its providers' lines
// included: k8s-athenz-sia's LOG_DIR. At most MaxSizeMB × (MaxBackups + 1)
// of disk.
type LogFile struct {
	Path string `yaml:"path"` // "" writes none
	// MaxSizeMB is the size at which the file is rotated: renamed with a
	// time stamp, and a new one begun.
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxBackups is how many rotated files are kept (at least one); older
	// ones are removed.
	MaxBackups int `yaml:"max_backups"`
}

// Provider is one entry of the pipeline.
type Provider struct {
	Name   string
	Plugin string // as written in the file
	Path   string // the resolved plugin binary; "" for a built-in provider
	// Builtin names the first-party provider built into the agent's own
	// executable that runs this entry; "" for a plugin binary.
	Builtin string
	// Renamed is the name of a first-party plugin binary of earlier
	// versions (sia-plugin-cert) that the entry still uses; "" if none.
	Renamed         string
	SHA256          string // lower-case hex, or "" when not pinned
	Enabled         bool
	ShutdownTimeout time.Duration
	Config          *yaml.Node // nil when the provider has no config
	ConfigPath      conf.Path  // path of Config in the file: providers[i].config
	Line            int        // line of the entry in the file
}

// Duration is a time.Duration written as "60s", "1m30s", ... It is the
// SDK's, so that the agent's settings and a provider's read the same way.
type Duration = sdk.Duration

// fileShape is the file as written.
type fileShape struct {
	Version   int                `yaml:"version"`
	Agent     Agent              `yaml:"agent"`
	Providers []providerShape    `yaml:"providers"`
	Hooks     hooks.List         `yaml:"hooks"`
	Profiles  map[string]profile `yaml:"profiles"`
}

type providerShape struct {
	Name            string    `yaml:"name"`
	Plugin          string    `yaml:"plugin"`
	SHA256          string    `yaml:"sha256"`
	Enabled         *bool     `yaml:"enabled"`
	ShutdownTimeout *Duration `yaml:"shutdown_timeout"`
	Config          yaml.Node `yaml:"config"`
}

type profile struct {
	Agent     *profileAgent               `yaml:"agent"`
	Providers map[string]*profileProvider `yaml:"providers"`
}

type profileAgent struct {
	LogLevel  *string `yaml:"log_level"`
	LogFormat *string `yaml:"log_format"`
}

type profileProvider struct {
	Enabled *bool     `yaml:"enabled"`
	Config  yaml.Node `yaml:"config"`
}

// Defaults for the agent settings.
const (
	DefaultShutdownTimeout     = 60 * time.Second
	DefaultLogLevel            = "info"
	DefaultLogFormat           = "text"
	DefaultPingInterval        = 5 * time.Second
	DefaultUnresponsiveTimeout = 30 * time.Second
	// MaxStartJitter bounds agent.start_jitter: a start later than that
	// is an outage, not a spread.
	MaxStartJitter = time.Hour
	// The log file is rotated at 10 MB, and five rotated files kept.
	DefaultLogFileMaxSizeMB  = 10
	DefaultLogFileMaxBackups = 5
)

// validSHA256 reports 64 lower-case hex digits.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Options tune Load.
type Options struct {
	// Profile to apply; "" for none.
	Profile string
	// Lookup resolves ${VAR}; nil means the process environment.
	Lookup func(string) (string, bool)
	// DefaultPluginDir resolves bare plugin names when the file sets no
	// plugin_dir; the agent passes its own binary's directory.
	DefaultPluginDir string
	// Builtins are the providers built into the agent's executable
	// (cert, token, ...): a bare plugin name among them needs no binary.
	Builtins []string
}

// legacyPrefix began the names of the first-party plugin binaries before
// they were built into the agent.
const legacyPrefix = "sia-plugin-"

// builtin returns the built-in provider a plugin name stands for, and the
// earlier binary name it was written as, if any.
func (o Options) builtin(plugin string) (name, renamed string) {
	name, legacy := strings.CutPrefix(plugin, legacyPrefix)
	if !slices.Contains(o.Builtins, name) {
		return "", ""
	}
	if legacy {
		renamed = plugin
	}
	return name, renamed
}

// Load reads and validates the pipeline file at path.
func Load(path string, opts Options) (*Pipeline, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	data, err := ReadFile(abs)
	if err != nil {
		return nil, err
	}
	return Parse(path, abs, data, opts)
}

// ReadFile reads a pipeline file, but no more than one byte past
// MaxFileSize of it, which Parse refuses.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading pipeline: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading pipeline: %w", err)
	}
	return data, nil
}

// Parse validates pipeline text. name is how errors refer to the file; abs
// anchors relative paths.
//
// With the error, Parse returns the pipeline as far as it could be built,
// or nil when the file could not be read as a whole (a syntax error, an
// alias cycle, a bound passed). A provider config over MaxConfigSize is
// left out of it (nil), so that nothing expands it.
func Parse(name, abs string, data []byte, opts Options) (*Pipeline, error) {
	lookup := opts.Lookup
	if lookup == nil {
		lookup = osLookup
	}
	doc, err := Document(name, data)
	if err != nil {
		return nil, err
	}
	var ps conf.Problems
	expandTree(name, doc, lookup, &ps)
	// Measured with the variables expanded: a value may grow.
	var m conf.Measurer
	if bad := bounds(name, doc, &m); len(bad) > 0 {
		return nil, append(ps, bad...).Err()
	}
	var shape fileShape
	if err := conf.Decode(name, conf.Path{}, doc, &shape); err != nil {
		ps = append(ps, conf.AsProblems(err)...)
	}
	if len(ps) > 0 {
		return nil, ps.Err()
	}

	v := validator{file: name, root: doc, measure: &m}
	p := v.build(shape, abs, opts)
	return p, v.problems.Err()
}

// Document parses pipeline text into its YAML document, after the checks
// that come before any YAML: the file's size and its characters. It is
// the first step of Parse; validate maps lines to keys with it.
func Document(name string, data []byte) (*yaml.Node, error) {
	doc, err := conf.Parser{Noun: "pipeline file", MaxSize: MaxFileSize}.Parse(name, data)
	if err == nil && doc == nil {
		return nil, &conf.Problem{File: name, Message: "the pipeline file is empty (it needs at least version and providers)"}
	}
	return doc, err
}

type validator struct {
	file     string
	root     *yaml.Node
	measure  *conf.Measurer
	problems conf.Problems
}

func (v *validator) errorf(path conf.Path, format string, args ...any) {
	_, line := conf.Lookup(v.root, path)
	v.problems = append(v.problems, &conf.Problem{File: v.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) build(shape fileShape, abs string, opts Options) *Pipeline {
	p := &Pipeline{File: abs, Profile: opts.Profile, Agent: shape.Agent, Hooks: shape.Hooks}
	v.version(shape.Version)
	prof := v.profile(shape, opts.Profile)
	if prof != nil && prof.Agent != nil {
		prof.Agent.apply(&p.Agent)
	}
	v.agent(&p.Agent)
	dir := filepath.Dir(abs)
	pluginDir := p.Agent.resolve(dir, opts.DefaultPluginDir)
	p.Providers = v.providers(shape.Providers, p.Agent.ShutdownTimeout)
	if prof != nil {
		v.applyProfile(p, prof, opts.Profile)
	}
	for _, pr := range p.Providers {
		v.boundConfig(pr)
	}
	if len(p.Providers) > 0 && len(p.Enabled()) == 0 {
		if opts.Profile != "" {
			v.errorf(conf.P("providers"), "no provider is enabled with profile %q", opts.Profile)
		} else {
			v.errorf(conf.P("providers"), "no provider is enabled")
		}
	}
	v.plugins(p, dir, pluginDir, opts)
	v.hooks(p)
	return p
}

// hooks checks that every hook's patterns name a provider of the file: a
// pattern that can match nothing is a typo.
func (v *validator) hooks(p *Pipeline) {
	for i, h := range p.Hooks {
		for j, pattern := range h.On {
			provider, _, _ := strings.Cut(pattern, "/")
			if !slices.ContainsFunc(p.Providers, func(pr *Provider) bool { ok, _ := path.Match(provider, pr.Name); return ok }) {
				v.errorf(conf.P("hooks", i, "on", j), "%q matches no provider of the pipeline", provider)
			}
		}
	}
}

func (v *validator) version(version int) {
	switch version {
	case Version:
	case 0:
		v.errorf(conf.P("version"), "missing: write `version: %d` at the top of the file", Version)
	default:
		v.errorf(conf.P("version"), "unsupported version %d (this agent reads version %d)", version, Version)
	}
}

// apply sets what the profile overrides of the agent's settings.
func (pa *profileAgent) apply(a *Agent) {
	if pa.LogLevel != nil {
		a.LogLevel = *pa.LogLevel
	}
	if pa.LogFormat != nil {
		a.LogFormat = *pa.LogFormat
	}
}

// resolve makes the agent's paths absolute against dir, the pipeline
// file's directory, and returns the directory bare plugin names resolve
// in.
func (a *Agent) resolve(dir, defaultPluginDir string) string {
	pluginDir := defaultPluginDir
	if a.PluginDir != "" {
		pluginDir = a.PluginDir
		if !filepath.IsAbs(pluginDir) {
			pluginDir = filepath.Join(dir, pluginDir)
		}
	}
	if a.StatusFile != "" && !filepath.IsAbs(a.StatusFile) {
		a.StatusFile = filepath.Join(dir, a.StatusFile)
	}
	if a.LogFile.Path != "" && !filepath.IsAbs(a.LogFile.Path) {
		a.LogFile.Path = filepath.Join(dir, a.LogFile.Path)
	}
	if a.RuntimeDir != "" && !filepath.IsAbs(a.RuntimeDir) {
		a.RuntimeDir = filepath.Join(dir, a.RuntimeDir)
	}
	return pluginDir
}

// providers builds the providers as the file lists them, each with the
// agent's shutdown timeout unless it sets its own.
func (v *validator) providers(shapes []providerShape, shutdownTimeout Duration) []*Provider {
	if len(shapes) == 0 {
		v.errorf(conf.P("providers"), "no providers: list at least one under `providers:`")
	}
	seen := make(map[string]int)
	var out []*Provider
	for i, ps := range shapes {
		entry := conf.P("providers", i)
		_, line := conf.Lookup(v.root, entry)
		pr := &Provider{
			Name:            ps.Name,
			Plugin:          ps.Plugin,
			SHA256:          strings.ToLower(ps.SHA256),
			Enabled:         ps.Enabled == nil || *ps.Enabled,
			ShutdownTimeout: time.Duration(shutdownTimeout),
			ConfigPath:      entry.Key("config"),
			Line:            line,
		}
		if ps.ShutdownTimeout != nil {
			pr.ShutdownTimeout = time.Duration(*ps.ShutdownTimeout)
		}
		if ps.Config.Kind != 0 {
			cfg := ps.Config
			pr.Config = &cfg
		}
		v.name(entry, ps.Name, seen)
		seen[ps.Name] = i + 1
		if ps.SHA256 != "" && !validSHA256(pr.SHA256) {
			v.errorf(entry.Key("sha256"), "%q is not a SHA-256 digest (64 hex digits; get one with `sha256sum`)", ps.SHA256)
		}
		if pr.ShutdownTimeout <= 0 {
			v.errorf(entry.Key("shutdown_timeout"), "must be more than 0")
		}
		out = append(out, pr)
	}
	return out
}

// name checks the name of the provider entry at path; seen holds the
// names before it, each with its index plus one.
func (v *validator) name(entry conf.Path, name string, seen map[string]int) {
	switch {
	case name == "":
		v.errorf(entry, "missing name: every provider needs a unique `name`")
	case !names.Valid(name):
		v.errorf(entry.Key("name"), "invalid name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	case seen[name] > 0:
		v.errorf(entry.Key("name"), "duplicate name %q (also used by %s)", name, conf.P("providers", seen[name]-1))
	}
}

// plugins resolves the plugin of every enabled provider: one built into
// the agent, or a plugin binary.
func (v *validator) plugins(p *Pipeline, dir, pluginDir string, opts Options) {
	for i, pr := range p.Providers {
		if !pr.Enabled {
			continue
		}
		entry := conf.P("providers", i)
		if pr.Plugin == "" {
			v.errorf(entry, "missing plugin: name a built-in provider, e.g. `plugin: cert`, or a plugin binary")
			continue
		}
		if pr.Builtin, pr.Renamed = opts.builtin(pr.Plugin); pr.Builtin != "" {
			continue
		}
		path, err := resolvePlugin(pr.Plugin, dir, pluginDir)
		if err != nil {
			v.errorf(entry.Key("plugin"), "%v", err)
			continue
		}
		pr.Path = path
	}
}

func (v *validator) agent(a *Agent) {
	if a.LogLevel == "" {
		a.LogLevel = DefaultLogLevel
	}
	switch strings.ToLower(a.LogLevel) {
	case "trace", "debug", "info", "warn", "error":
		a.LogLevel = strings.ToLower(a.LogLevel)
	default:
		v.errorf(conf.P("agent", "log_level"), "unknown level %q (want trace, debug, info, warn or error)", a.LogLevel)
	}
	if a.LogFormat == "" {
		a.LogFormat = DefaultLogFormat
	}
	if a.LogFormat != "text" && a.LogFormat != "json" {
		v.errorf(conf.P("agent", "log_format"), "unknown format %q (want text or json)", a.LogFormat)
	}
	if a.ShutdownTimeout == 0 {
		a.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if a.PingInterval == 0 {
		a.PingInterval = Duration(DefaultPingInterval)
	}
	if a.UnresponsiveTimeout == 0 {
		a.UnresponsiveTimeout = Duration(DefaultUnresponsiveTimeout)
	}
	v.logFile(&a.LogFile)
	if a.StartJitter < 0 || a.StartJitter > Duration(MaxStartJitter) {
		v.errorf(conf.P("agent", "start_jitter"), "%v is not between 0 and %v", a.StartJitter, Duration(MaxStartJitter))
	}
	if a.UnresponsiveTimeout < a.PingInterval {
		v.errorf(conf.P("agent", "unresponsive_timeout"), "%v is shorter than agent.ping_interval (%v): a plugin would be killed before it missed a ping", a.UnresponsiveTimeout, a.PingInterval)
	}
}

// logFile sets the log file's defaults and checks its bounds.
func (v *validator) logFile(f *LogFile) {
	if f.Path == "" {
		return
	}
	if f.MaxSizeMB == 0 {
		f.MaxSizeMB = DefaultLogFileMaxSizeMB
	}
	if f.MaxBackups == 0 {
		f.MaxBackups = DefaultLogFileMaxBackups
	}
	if f.MaxSizeMB < 1 || f.MaxSizeMB > 1024 {
		v.errorf(conf.P("agent", "log_file", "max_size_mb"), "%d is not between 1 and 1024", f.MaxSizeMB)
	}
	if f.MaxBackups < 1 || f.MaxBackups > 100 {
		v.errorf(conf.P("agent", "log_file", "max_backups"), "%d is not between 1 and 100", f.MaxBackups)
	}
}

func (v *validator) profile(shape fileShape, name string) *profile {
	if name == "" {
		return nil
	}
	prof, ok := shape.Profiles[name]
	if !ok {
		known := make([]string, 0, len(shape.Profiles))
		for k := range shape.Profiles {
			known = append(known, k)
		}
		if len(known) == 0 {
			v.errorf(conf.P("profiles"), "profile %q not found: the file defines no profiles", name)
		} else {
			v.errorf(conf.P("profiles"), "profile %q not found (defined: %s)", name, strings.Join(sortStrings(known), ", "))
		}
		return nil
	}
	return &prof
}

func (v *validator) applyProfile(p *Pipeline, prof *profile, name string) {
	byName := make(map[string]*Provider, len(p.Providers))
	for _, pr := range p.Providers {
		byName[pr.Name] = pr
	}
	for _, provName := range sortedProfileKeys(prof.Providers) {
		over := prof.Providers[provName]
		key := conf.P("profiles", name, "providers", provName)
		pr, ok := byName[provName]
		if !ok {
			v.errorf(key, "no provider named %q in the pipeline", provName)
			continue
		}
		if over == nil {
			continue
		}
		if over.Enabled != nil {
			pr.Enabled = *over.Enabled
		}
		if over.Config.Kind != 0 {
			cfg := over.Config
			pr.Config = merge(pr.Config, &cfg)
		}
	}
}

// merge overlays b on a: mappings merge key by key, anything else in b
// replaces what a had.
func merge(a, b *yaml.Node) *yaml.Node {
	if a == nil || a.Kind != yaml.MappingNode || b.Kind != yaml.MappingNode {
		return b
	}
	out := *a
	out.Content = append([]*yaml.Node(nil), a.Content...)
	for i := 0; i+1 < len(b.Content); i += 2 {
		k, val := b.Content[i], b.Content[i+1]
		replaced := false
		for j := 0; j+1 < len(out.Content); j += 2 {
			if out.Content[j].Value == k.Value {
				// The profile's key replaces the base's, so that an error
				// about the value points at the profile, which set it.
				out.Content[j] = k
				out.Content[j+1] = merge(out.Content[j+1], val)
				replaced = true
				break
			}
		}
		if !replaced {
			out.Content = append(out.Content, k, val)
		}
	}
	return &out
}

// resolvePlugin finds a plugin binary: a bare name in pluginDir, a path
// relative to the pipeline file's directory, or an absolute path.
func resolvePlugin(plugin, dir, pluginDir string) (string, error) {
	var path string
	switch {
	case filepath.IsAbs(plugin):
		path = plugin
	case strings.ContainsRune(plugin, filepath.Separator):
		path = filepath.Join(dir, plugin)
	default:
		if pluginDir == "" {
			return "", fmt.Errorf("cannot resolve bare plugin name %q: set agent.plugin_dir", plugin)
		}
		path = filepath.Join(pluginDir, plugin)
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("plugin %q not found at %s (build it with `make build`, or set agent.plugin_dir)", plugin, path)
	case err != nil:
		return "", fmt.Errorf("plugin %q: %w", plugin, err)
	case info.IsDir():
		return "", fmt.Errorf("plugin %q at %s is a directory, not a binary", plugin, path)
	case info.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("plugin %q at %s is not executable (chmod +x it)", plugin, path)
	}
	if err := notWritableByOthers(path); err != nil {
		return "", fmt.Errorf("plugin %q at %s: %w", plugin, path, err)
	}
	return path, nil
}
