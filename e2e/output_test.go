package e2e

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// What a provider's libraries write with the standard library's log
// package is a warning under the provider's name in the agent's log, not
// an error: the SDK routes the package into the plugin's logger.
func TestStdlibLogOfAPluginIsAWarning(t *testing.T) {
	t.Parallel()
	file := pipeline(t, `providers:
  - name: chatty
    plugin: sia-plugin-test
    config: {stdlog_lines: ["http: TLS handshake error from 127.0.0.1:4242: EOF", "[DEBUG] a library's detail"]}
`)
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 1 providers started", waitLine)
	p.Signal(t, syscall.SIGINT)
	if code := p.Exit(t, waitExit); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log)
	}
	for re, what := range map[string]string{
		`\[WARN\]  sia-agent\.chatty: http: TLS handshake error from 127\.0\.0\.1:4242: EOF$`: "a warning",
		`\[DEBUG\] sia-agent\.chatty: a library's detail$`:                                    "at the level the line names",
	} {
		if !matchAny(re, p.Log.Lines()) {
			t.Errorf("want the log package's line %s (%s):\n%s", what, re, p.Log)
		}
	}
	if strings.Contains(p.Log.String(), "[ERROR]") {
		t.Errorf("an error in the log:\n%s", p.Log)
	}
}

func matchAny(re string, lines []string) bool {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return true
		}
	}
	return false
}

// What a provider prints with fmt to its standard output and standard
// error once it serves reaches the agent's log under its name: stdout at
// info, stderr at warn. go-plugin swaps both streams for pipes then, and
// drops what comes through them unless the agent asks for it.
func TestPrintsOfAPluginAreRelayed(t *testing.T) {
	t.Parallel()
	file := pipeline(t, `providers:
  - name: printer
    plugin: sia-plugin-test
    config: {stdout_lines: ["a line on stdout", "", "another on stdout"], stderr_lines: ["a line on stderr"]}
`)
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 1 providers started", waitLine)
	// The streams have no order against the log: wait for each line.
	for _, line := range []string{
		"[INFO]  sia-agent.printer: a line on stdout",
		"[INFO]  sia-agent.printer: another on stdout",
		"[WARN]  sia-agent.printer: a line on stderr",
	} {
		p.WaitLog(t, line, waitLine)
	}
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log)
	}
	if strings.Contains(p.Log.String(), "[ERROR]") {
		t.Errorf("an error in the log:\n%s", p.Log)
	}
}
