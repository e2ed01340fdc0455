// Package hooks tells a workload when its credentials change. A hook
// watches credentials by provider and name; once a provider reports a
// successful update of one of them, the hook runs a command or signals a
// process, once for a burst of updates (ten role certificates refreshed
// together are one reload). The agent sees every provider's status
// records, so hooks work for third-party providers' credentials as they do
// for the cert provider's.
//
// A hook never touches the credential: it runs after the new one is in
// place, and a hook that fails or times out is logged, reported and
// counted, nothing more.
package hooks

import (
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Defaults and bounds of a hook's settings.
const (
	DefaultDebounce = 2 * time.Second
	DefaultTimeout  = 30 * time.Second
	// MaxDelay bounds how long a run waits for the updates to stop: a
	// credential that changes again and again still gets its reload.
	MaxDelay   = time.Minute
	maxSetting = 10 * time.Minute
	maxHooks   = 64
)

// List is the pipeline's `hooks:`, in file order.
type List []Config

// Config is one hook.
type Config struct {
	Name string `yaml:"name"`
	// On are the credentials the hook runs for, as provider/credential
	// patterns in path.Match syntax: "certificate/identity",
	// "certificate/rolecert/*", "token/*".
	On []string `yaml:"on"`
	// Debounce is how long the updates must stop before the hook runs.
	Debounce *sdk.Duration `yaml:"debounce"`
	Exec     *Exec         `yaml:"exec"`
	Signal   *Signal       `yaml:"signal"`
}

// Exec runs a command: argv, no shell.
type Exec struct {
	Command []string      `yaml:"command"` // an absolute path, then the arguments
	Timeout *sdk.Duration `yaml:"timeout"`
}

// Signal sends a signal to a process found by its pid file or its name.
type Signal struct {
	Signal  string `yaml:"signal"`   // HUP (the default), USR1, USR2, ...
	PIDFile string `yaml:"pid_file"` // a file holding the process's pid
	// Process is a process's name (its /proc/<pid>/comm, or its command's
	// base name) in the agent's PID namespace: in Kubernetes, a container
	// of the same pod with shareProcessNamespace: true.
	Process string `yaml:"process"`
}

// Validate checks that the hooks' names are unique and that there are not
// more of them than the agent runs.
func (l List) Validate() error {
	var c conf.Checker
	if len(l) > maxHooks {
		c.Errorf("", "%d hooks, more than %d", len(l), maxHooks)
	}
	seen := make(map[string]int, len(l))
	for i, h := range l {
		if j, ok := seen[h.Name]; ok && h.Name != "" {
			c.ErrorfAt(conf.P(i, "name"), "%q is also the name of hooks[%d]", h.Name, j)
		}
		seen[h.Name] = i
	}
	return c.Err()
}

// Validate checks one hook.
func (h *Config) Validate() error {
	var c conf.Checker
	if !validName(h.Name) {
		c.Errorf("name", "required: letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	if len(h.On) == 0 {
		c.Errorf("on", "required: the provider/credential patterns the hook runs for, e.g. certificate/identity")
	}
	for i, p := range h.On {
		if _, err := path.Match(p, ""); err != nil || !strings.Contains(p, "/") {
			c.ErrorfAt(conf.P("on", i), "%q is not a provider/credential pattern (path.Match syntax, e.g. certificate/rolecert/*)", p)
		}
	}
	if d := h.Debounce; d != nil && (*d < 0 || d.Std() > maxSetting) {
		c.Errorf("debounce", "must be between 0s and %v", maxSetting)
	}
	switch {
	case (h.Exec == nil) == (h.Signal == nil):
		c.Errorf("", "needs exactly one of exec and signal")
	case h.Exec != nil:
		h.Exec.check(&c)
	default:
		h.Signal.check(&c)
	}
	return c.Err()
}

func (e *Exec) check(c *conf.Checker) {
	switch {
	case len(e.Command) == 0:
		c.ErrorfAt(conf.P("exec", "command"), "required: the command and its arguments, e.g. [/usr/sbin/nginx, -s, reload]")
	case !filepath.IsAbs(e.Command[0]):
		c.ErrorfAt(conf.P("exec", "command", 0), "%q must be an absolute path: the agent runs no shell and searches no PATH", e.Command[0])
	}
	if t := e.Timeout; t != nil && (*t <= 0 || t.Std() > maxSetting) {
		c.ErrorfAt(conf.P("exec", "timeout"), "must be above 0s and at most %v", maxSetting)
	}
}

func (s *Signal) check(c *conf.Checker) {
	if _, ok := signalOf(s.Signal); !ok {
		c.ErrorfAt(conf.P("signal", "signal"), "unknown signal %q (HUP, INT, QUIT, TERM, USR1, USR2, WINCH)", s.Signal)
	}
	if (s.PIDFile == "") == (s.Process == "") {
		c.Errorf("signal", "needs exactly one of pid_file and process")
	}
	if s.PIDFile != "" && !filepath.IsAbs(s.PIDFile) {
		c.ErrorfAt(conf.P("signal", "pid_file"), "%q must be an absolute path", s.PIDFile)
	}
}

func (h *Config) debounce() time.Duration {
	if h.Debounce == nil {
		return DefaultDebounce
	}
	return h.Debounce.Std()
}

func (e *Exec) timeout() time.Duration {
	if e.Timeout == nil {
		return DefaultTimeout
	}
	return e.Timeout.Std()
}

// watches reports whether the hook runs for the named credential.
func (h *Config) watches(provider, credential string) bool {
	name := provider + "/" + credential
	for _, p := range h.On {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// signalOf reads a signal's name, with or without SIG, HUP when empty.
func signalOf(name string) (syscall.Signal, bool) {
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "", "HUP":
		return syscall.SIGHUP, true
	case "INT":
		return syscall.SIGINT, true
	case "QUIT":
		return syscall.SIGQUIT, true
	case "TERM":
		return syscall.SIGTERM, true
	case "USR1":
		return syscall.SIGUSR1, true
	case "USR2":
		return syscall.SIGUSR2, true
	case "WINCH":
		return syscall.SIGWINCH, true
	}
	return 0, false
}

func validName(name string) bool {
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return name != ""
}
