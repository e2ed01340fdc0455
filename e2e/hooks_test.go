package e2e

import (
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
)

// The workload is told when its credentials change: after the cert
// provider wrote the identity and role certificates, one hook runs a
// command with the changed credentials and files in its environment,
// another sends SIGHUP to a process by its pid file, and a failing one is
// reported without costing the credentials or readiness.
func TestHooksRunWhenCredentialsChange(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	dir := t.TempDir()
	told := filepath.Join(dir, "told")
	record := e2e.WriteFile(t, dir, "record.sh", "#!/bin/sh\nprintf '%s\\n--\\n%s\\n==\\n' \"$SIA_CHANGED_CREDENTIALS\" \"$SIA_CHANGED_FILES\" >> "+told+"\n")
	workload := e2e.WriteFile(t, dir, "workload.sh", "#!/bin/sh\ntrap 'echo got HUP' HUP\necho $$ > "+dir+"/workload.pid\necho ready\nwhile :; do sleep 1 & wait $!; done\n")
	for _, f := range []string{record, workload} {
		if err := os.Chmod(f, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Under nohup the test would hand the workload SIGHUP ignored, which a
	// shell cannot trap: a handler of the test's own while it starts the
	// workload gives it the default, as a real workload has it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	w := e2e.Start(t, workload, nil)
	signal.Stop(hup)
	t.Cleanup(func() { _ = w.Cmd.Process.Kill() })
	w.WaitLog(t, "ready", waitLine)

	status := filepath.Join(dir, "status.json")
	file := pipelineWith(t, "  status_file: "+status+"\n", "providers:\n  - name: certificate\n    plugin: cert\n    config:\n"+
		indent(env.certConfig("[sia.demo:role.reader, sia.demo:role.writer]", "init_max_elapsed: 1s\n"), "      ")+`hooks:
  - name: record
    on: [certificate/identity, certificate/rolecert/*]
    debounce: 1s
    exec: {command: [`+record+`]}
  - name: reload-workload
    on: [certificate/identity]
    debounce: 0s
    signal: {pid_file: `+dir+`/workload.pid}
  - name: broken
    on: [certificate/rolecert/sia.demo:role.writer]
    exec: {command: [/bin/false]}
`)
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 1 providers started", waitLine)
	p.WaitLog(t, "Ran hook: hook=record", waitLine)
	p.WaitLog(t, "Ran hook: hook=reload-workload", waitLine)
	p.WaitLog(t, "Hook failed; the credentials it was run for are in place: hook=broken", waitLine)
	w.WaitLog(t, "got HUP", waitLine)

	// The burst of three updates at start is one run, told all of them.
	text := string(readFile(t, told))
	runs := strings.Split(strings.TrimSuffix(text, "==\n"), "==\n")
	if len(runs) != 1 {
		t.Errorf("record ran %d times for the start's updates, want once:\n%s", len(runs), text)
	}
	creds, files, _ := strings.Cut(runs[0], "--\n")
	if got := slices.Sorted(slices.Values(strings.Fields(creds))); !slices.Equal(got, []string{"certificate/identity", "certificate/rolecert/sia.demo:role.reader", "certificate/rolecert/sia.demo:role.writer"}) {
		t.Errorf("SIA_CHANGED_CREDENTIALS: %q", got)
	}
	for _, f := range []string{"service.key.pem", "service.cert.pem", "rolecerts/sia.demo:role.reader.cert.pem", "rolecerts/sia.demo:role.writer.key.pem"} {
		if !slices.Contains(strings.Fields(files), env.path(f)) {
			t.Errorf("SIA_CHANGED_FILES lacks %s: %q", env.path(f), files)
		}
	}
	checkPair(t, env.path("rolecerts/sia.demo:role.writer.cert.pem"), env.path("rolecerts/sia.demo:role.writer.key.pem"))

	if code := stop(t, p); code != 0 {
		t.Errorf("exit %d", code)
	}
	// The report the agent wrote last: every hook's last run, and no
	// credential unready for the one that failed.
	var rep sdk.StatusReport
	if err := json.Unmarshal(readFile(t, status), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Hooks) != 3 {
		t.Fatalf("hooks in the report: %+v", rep.Hooks)
	}
	for _, h := range rep.Hooks {
		want := sdk.OutcomeSuccess
		if h.Name == "broken" {
			want = "FAILED"
		}
		if h.Outcome != want || h.Runs == 0 || h.LastRunTS == 0 {
			t.Errorf("hook %s: %+v, want outcome %s", h.Name, h, want)
		}
	}
	for _, n := range rep.NotReady {
		if n.Credential != "" {
			t.Errorf("not ready: %+v", n)
		}
	}
}

// A hook with a pattern that names no provider is a configuration error
// with its line.
func TestHookPatternNamingNoProviderIsAConfigError(t *testing.T) {
	t.Parallel()
	file := pipeline(t, "providers:\n  - name: a\n    plugin: sia-plugin-test\nhooks:\n  - name: x\n    on: [certificat/identity]\n    signal: {process: nginx}\n")
	p := runAgent(t, file, nil)
	if code := p.Exit(t, waitExit); code != exitConfig {
		t.Errorf("exit %d, want %d", code, exitConfig)
	}
	p.WaitLog(t, file+`:10: hooks[0].on[0]: "certificat" matches no provider of the pipeline`, waitLine)
}
