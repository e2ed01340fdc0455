package agent

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// A reload's log settings apply at once, to the loggers named before it
// (the plugins' relays) too, and the text lines read as before.
func TestLoggerSettingsChangeAtOnce(t *testing.T) {
	var out bytes.Buffer
	l := newLogger(&out, "info", "text")
	named := l.Named("token")
	l.Info("Stopped token", "k", "v")
	named.Debug("not shown")
	if !regexp.MustCompile(`^\S+ \[INFO\]  sia-agent: Stopped token: k=v\n$`).MatchString(out.String()) {
		t.Errorf("text line %q", out.String())
	}
	out.Reset()
	l.set("debug", "json")
	named.Debug("shown")
	if !named.IsDebug() {
		t.Error("a named logger is not at debug")
	}
	if got := out.String(); !strings.HasPrefix(got, "{") || !strings.Contains(got, `"@module":"sia-agent.token"`) || !strings.Contains(got, `"shown"`) {
		t.Errorf("json line %q", got)
	}
	out.Reset()
	l.set("warn", "text")
	named.Info("not shown")
	l.Info("not shown either")
	if out.Len() != 0 {
		t.Errorf("lines below warn: %q", out.String())
	}
}
