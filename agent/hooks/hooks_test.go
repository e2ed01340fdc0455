package hooks

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func decode(t *testing.T, text string) (List, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var l List
	err := conf.Decode("pipeline.yaml", conf.P("hooks"), doc.Content[0], &l)
	return l, err
}

func TestConfigProblemsNameTheKey(t *testing.T) {
	_, err := decode(t, `
- name: nginx
  on: [certificate/identity]
  exec: {command: [nginx, -s, reload], timeout: 0s}
- name: nginx
  on: [identity]
  signal: {signal: BOGUS, pid_file: run/x.pid}
- name: both
  on: [a/b]
  exec: {command: [/bin/true]}
  signal: {process: envoy}
- name: ""
  on: ["a/["]
  signal: {pid_file: /run/a.pid, process: a}
`)
	for _, want := range []string{
		`pipeline.yaml:4: hooks[0].exec.command[0]: "nginx" must be an absolute path`,
		`pipeline.yaml:4: hooks[0].exec.timeout: must be above 0s`,
		`pipeline.yaml:5: hooks[1].name: "nginx" is also the name of hooks[0]`,
		`pipeline.yaml:6: hooks[1].on[0]: "identity" is not a provider/credential pattern`,
		`pipeline.yaml:7: hooks[1].signal.signal: unknown signal "BOGUS"`,
		`pipeline.yaml:7: hooks[1].signal.pid_file: "run/x.pid" must be an absolute path`,
		`pipeline.yaml:8: hooks[2]: needs exactly one of exec and signal`,
		`hooks[3].name: required`,
		`hooks[3].on[0]: "a/[" is not a provider/credential pattern`,
		`hooks[3].signal: needs exactly one of pid_file and process`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestPatterns(t *testing.T) {
	h := Config{On: []string{"certificate/identity", "certificate/rolecert/*", "tok*/accesstoken/*"}}
	for name, want := range map[string]bool{
		"certificate/identity":                   true,
		"certificate/rolecert/sia.demo:role.x":   true,
		"token/accesstoken/sia.demo:reader":      true,
		"certificate/identityx":                  false,
		"spiffe/x509svid/identity":               false,
		"certificate/rolecert/a/b (no crossing)": false,
	} {
		provider, cred, _ := strings.Cut(name, "/")
		if got := h.watches(provider, cred); got != want {
			t.Errorf("watches(%q) = %v", name, got)
		}
	}
}

// A burst of updates is one run, after the updates stopped for the
// debounce; a change that keeps coming still runs after MaxDelay.
func TestABurstIsOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "runs")
		script := writeScript(t, dir, `printf '%s|%s\n' "$SIA_CHANGED_CREDENTIALS" "$SIA_CHANGED_FILES" | tr '\n' ' ' >> `+out+`; echo >> `+out)
		debounce := sdk.Duration(2 * time.Second)
		var reports reportLog
		r := New(List{{Name: "reload", On: []string{"certificate/*", "certificate/rolecert/*"}, Debounce: &debounce, Exec: &Exec{Command: []string{script}}}},
			hclog.NewNullLogger(), reports.add)
		r.Start()
		defer r.Close(context.Background())

		for i := range 10 {
			r.Changed(Change{Provider: "certificate", Credential: "rolecert/r" + string(rune('0'+i%5)), Files: []string{"/x/" + string(rune('0'+i%5))}})
			time.Sleep(time.Second) // virtual time: the burst lasts 10s
		}
		r.Changed(Change{Provider: "token", Credential: "accesstoken/x"}) // not watched
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := reports.runs(); n != 1 {
			t.Fatalf("%d runs after a burst, want 1", n)
		}
		last := reports.last()
		if want := []string{"certificate/rolecert/r0", "certificate/rolecert/r1", "certificate/rolecert/r2", "certificate/rolecert/r3", "certificate/rolecert/r4"}; last.Outcome != OutcomeSuccess || !slices.Equal(last.Credentials, want) {
			t.Errorf("report %+v", last)
		}
		if got := string(readFile(t, out)); got != "certificate/rolecert/r0 certificate/rolecert/r1 certificate/rolecert/r2 certificate/rolecert/r3 certificate/rolecert/r4|/x/0 /x/1 /x/2 /x/3 /x/4 \n" {
			t.Errorf("the command was told %q", got)
		}

		// An update every second, for longer than MaxDelay.
		for range 90 {
			r.Changed(Change{Provider: "certificate", Credential: "identity"})
			time.Sleep(time.Second)
		}
		synctest.Wait()
		if n := reports.runs(); n != 2 {
			t.Errorf("%d runs after 90s of changes every second, want 2 (one at MaxDelay): %+v", n, reports.all)
		}
	})
}

func TestFailingAndHangingCommands(t *testing.T) {
	dir := t.TempDir()
	fail := writeScript(t, dir, "echo something went wrong >&2; exit 3")
	hang := writeScript(t, dir, "exec sleep 600")
	timeout := sdk.Duration(200 * time.Millisecond)
	zero := sdk.Duration(0)
	var reports reportLog
	r := New(List{
		{Name: "fails", On: []string{"a/*"}, Debounce: &zero, Exec: &Exec{Command: []string{fail}}},
		{Name: "hangs", On: []string{"b/*"}, Debounce: &zero, Exec: &Exec{Command: []string{hang}, Timeout: &timeout}},
	}, hclog.NewNullLogger(), reports.add)
	r.Start()
	defer r.Close(context.Background())
	r.Changed(Change{Provider: "a", Credential: "x"})
	r.Changed(Change{Provider: "b", Credential: "x"})
	got := reports.wait(t, 2)
	byName := map[string]sdk.HookStatus{}
	for _, s := range got {
		byName[s.Name] = s
	}
	if s := byName["fails"]; s.Outcome != OutcomeFailed || !strings.Contains(s.Error, "exit status 3") || s.Failures != 1 {
		t.Errorf("failing command: %+v", s)
	}
	if s := byName["hangs"]; s.Outcome != OutcomeTimeout || !strings.Contains(s.Error, "did not finish within 200ms") {
		t.Errorf("hanging command: %+v", s)
	}
	if n := testutil.ToFloat64(r.metrics.runs.WithLabelValues("hangs", OutcomeTimeout)); n != 1 {
		t.Errorf("sia_hook_runs_total{hook=hangs,outcome=TIMEOUT} = %v", n)
	}
}

func TestCommandOutputIsBounded(t *testing.T) {
	var b limitedBuffer
	_, _ = b.Write([]byte(strings.Repeat("x", maxOutput+10)))
	if s := b.String(); !strings.HasSuffix(s, "[10 more bytes]") || len(s) > maxOutput+32 {
		t.Errorf("%d bytes kept: ...%q", len(s), s[len(s)-20:])
	}
}

func TestSignalByPIDFileAndByName(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	// A process that says which signal it received.
	script := writeScript(t, dir, `trap 'echo HUP >> `+got+`' HUP; trap 'echo USR1 >> `+got+`' USR1; echo $$ > `+dir+`/pid; while :; do sleep 1 & wait $!; done`)
	// Named as a process of another container would be: its comm is the
	// script's name, up to 15 bytes.
	named := filepath.Join(dir, "sia-sigtarget")
	if err := os.Rename(script, named); err != nil {
		t.Fatal(err)
	}
	script = named
	// Under nohup the test, and a process it starts, ignore SIGHUP, and a
	// shell cannot trap a signal ignored on entry: with a handler of its
	// own for the start, the test hands the target the default, as a
	// workload's process has it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	p, err := os.StartProcess(script, []string{script}, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}, Sys: &syscall.SysProcAttr{Setpgid: true}})
	signal.Stop(hup)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid, syscall.SIGKILL); _, _ = p.Wait() })
	waitFile(t, filepath.Join(dir, "pid"))

	if err := sendSignal(&Signal{PIDFile: filepath.Join(dir, "pid")}, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	waitContent(t, got, "HUP\n")
	if err := sendSignal(&Signal{Signal: "SIGUSR1", Process: "sia-sigtarget"}, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	waitContent(t, got, "HUP\nUSR1\n")

	if err := sendSignal(&Signal{Process: "no-such-process-here"}, os.Getpid()); err == nil || !strings.Contains(err.Error(), `no process named "no-such-process-here"`) {
		t.Errorf("no such process: %v", err)
	}
	bad := filepath.Join(dir, "bad.pid")
	if err := os.WriteFile(bad, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sendSignal(&Signal{PIDFile: bad}, os.Getpid()); err == nil || !strings.Contains(err.Error(), "holds no pid") {
		t.Errorf("bad pid file: %v", err)
	}
}

// Changes still waiting at Close are dropped and said so; Close returns.
func TestCloseDropsPendingChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reports reportLog
		hour := sdk.Duration(time.Hour)
		r := New(List{{Name: "late", On: []string{"a/*"}, Debounce: &hour, Exec: &Exec{Command: []string{"/bin/true"}}}}, hclog.NewNullLogger(), reports.add)
		r.Start()
		r.Changed(Change{Provider: "a", Credential: "x"})
		synctest.Wait()
		r.Close(context.Background())
		if n := reports.runs(); n != 0 {
			t.Errorf("%d runs", n)
		}
	})
}

type reportLog struct {
	mu   sync.Mutex
	all  []sdk.HookStatus
	cond chan struct{}
}

func (l *reportLog) add(s sdk.HookStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Runs > 0 || s.Outcome != "" {
		l.all = append(l.all, s)
	}
	if l.cond != nil {
		close(l.cond)
		l.cond = nil
	}
}

func (l *reportLog) runs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

func (l *reportLog) last() sdk.HookStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all[len(l.all)-1]
}

// wait waits until n runs were reported.
func (l *reportLog) wait(t *testing.T, n int) []sdk.HookStatus {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		if len(l.all) >= n {
			defer l.mu.Unlock()
			return slices.Clone(l.all)
		}
		ch := make(chan struct{})
		l.cond = ch
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%d runs reported, want %d", l.runs(), n)
		}
	}
}

func writeScript(t *testing.T, dir, body string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "hook-*.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("#!/bin/sh\n" + body + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o700); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFile and waitContent poll a file another process writes: there is
// no event to wait on.
func waitFile(t *testing.T, path string) {
	t.Helper()
	waitContent(t, path, "")
}

func waitContent(t *testing.T, path, want string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && (want == "" && len(b) > 0 || want != "" && string(b) == want) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
	}
}
