package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// testProviders is a pipeline body of test providers by name, each with
// the config lines given (indented under config:), if any.
func testProviders(entries ...string) string {
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, e := range entries {
		name, config, _ := strings.Cut(e, "|")
		fmt.Fprintf(&b, "  - name: %s\n    plugin: sia-plugin-test\n", name)
		if config != "" {
			b.WriteString("    config:\n")
			for _, line := range strings.Split(config, "|") {
				fmt.Fprintf(&b, "      %s\n", line)
			}
		}
	}
	return b.String()
}

// rewrite replaces the pipeline file's body (what follows the agent block)
// with body, keeping agentExtra.
func rewrite(t *testing.T, file, agentExtra, body string) {
	t.Helper()
	text := fmt.Sprintf("version: 1\nagent:\n  plugin_dir: %s\n  log_level: debug\n%s%s", bins, agentExtra, body)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitReport waits until the status file's report satisfies cond.
func waitReport(t *testing.T, path, what string, cond func(sdk.StatusReport) bool) sdk.StatusReport {
	t.Helper()
	deadline := time.Now().Add(waitLine)
	for {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			if rep := readStatus(t, path); cond(rep) {
				return rep
			}
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(path)
			t.Fatalf("%s: not within %v; status file:\n%s", what, waitLine, data)
		}
		time.Sleep(20 * time.Millisecond) // polling a file: the condition is what the test waits for
	}
}

// SIGHUP used to be logged and ignored. It reloads the pipeline: what is
// unchanged keeps running; a removed provider is shut down; a changed one
// whose plugin cannot be reconfigured (the test provider) is restarted in
// order: shut down after the removed one that came after it, started
// before the added one that comes after it.
func TestSIGHUPReloadsThePipeline(t *testing.T) {
	t.Parallel()
	status := filepath.Join(t.TempDir(), "status.json")
	extra := "  status_file: " + status + "\n"
	file := pipelineWith(t, extra, testProviders("first", "second", "third"))
	p := runAgent(t, file, nil)
	first := providerPid(t, p, "first")
	p.WaitLog(t, "All 3 providers started", waitLine)

	rewrite(t, file, extra, testProviders("first", "second|log_lines: [second runs the new config]", "added"))
	p.Signal(t, syscall.SIGHUP)
	done := p.WaitLog(t, "sia-agent: Reloaded pipeline", waitLine)
	for _, line := range []string{
		"Received signal: hangup",
		"Reloading the pipeline",
		"Restarting second to apply its new configuration",
		"Initiating shutdown of third ...", "sia-agent: Stopped third",
		"Initiating shutdown of second ...", "sia-agent: Stopped second",
		"Starting second", "second runs the new config", "Started second",
		"Starting added", "Started added",
		"sia-agent: Reloaded pipeline",
	} {
		i, err := p.Log.WaitFrom(0, line, 0)
		if err != nil || i > done {
			t.Fatalf("no %q line before the reload ended: %v\n%s", line, err, p.Log)
		}
	}
	order := []string{"Initiating shutdown of third ...", "sia-agent: Stopped third", "Initiating shutdown of second ...",
		"sia-agent: Stopped second", "Starting second", "Started second", "Starting added", "Started added"}
	last := 0
	for _, line := range order {
		i, err := p.Log.WaitFrom(last, line, 0)
		if err != nil {
			t.Fatalf("%q does not follow %q: %v\n%s", line, p.Log.Lines()[last], err, p.Log)
		}
		last = i
	}
	if i := p.Log.Index("Initiating shutdown of first"); i >= 0 {
		t.Errorf("the unchanged provider was shut down: %s", p.Log.Lines()[i])
	}
	if !alive(first) {
		t.Errorf("the unchanged provider's process %d is gone", first)
	}
	rep := waitReport(t, status, "the reload in the status file", func(r sdk.StatusReport) bool { return r.LastReload != nil })
	if rep.LastReload.Outcome != sdk.ReloadSuccess {
		t.Errorf("last reload %+v, want a success", rep.LastReload)
	}
	var names []string
	for _, pr := range rep.Providers {
		names = append(names, pr.Name+"="+pr.State)
	}
	if got := strings.Join(names, " "); got != "first=started second=started added=started" {
		t.Errorf("status file providers %q", got)
	}
	// Shutdown goes by the new pipeline.
	code := stop(t, p)
	assertRow(t, p, []string{"first", "second", "added"}, row{succeeded: []string{"first", "second", "added"}}, code)
}

// A pipeline with problems changes nothing: every problem is logged with
// file and line, those of the file and of a plugin's config alike, the
// old pipeline keeps running, and the status file says the reload failed.
func TestBrokenReloadChangesNothing(t *testing.T) {
	t.Parallel()
	status := filepath.Join(t.TempDir(), "status.json")
	extra := "  status_file: " + status + "\n"
	file := pipelineWith(t, extra, testProviders("first", "second"))
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 2 providers started", waitLine)

	// A problem only the plugin finds.
	rewrite(t, file, extra, testProviders("first", "second|crash_code: 300", "added"))
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "Reload refused: the pipeline runs as it was", waitLine)
	p.WaitLog(t, "Reload: "+file+":12: providers.second.config.crash_code: must be between 0 and 255", 0)
	rep := waitReport(t, status, "the failed reload", func(r sdk.StatusReport) bool { return r.LastReload != nil })
	if rep.LastReload.Outcome != sdk.ReloadFailure || !strings.Contains(rep.LastReload.Error, "crash_code") {
		t.Errorf("last reload %+v, want a failure naming crash_code", rep.LastReload)
	}

	// Problems of the file and of the plugin, all reported at once.
	rewrite(t, file, "  log_levl: info\n"+extra, testProviders("first", "second|crash_code: 300"))
	p.Signal(t, syscall.SIGHUP)
	i := p.WaitLog(t, "Reload: "+file+":5: agent.log_levl", waitLine)
	if _, err := p.Log.WaitFrom(i, "Reload: "+file+":13: providers.second.config.crash_code: must be between 0 and 255", waitLine); err != nil {
		t.Errorf("the plugin's problem is not reported with the file's: %v\n%s", err, p.Log)
	}
	p.WaitLog(t, "Reload refused: the pipeline runs as it was", waitLine)

	for _, line := range []string{"Initiating shutdown of", "Starting added", "Reloaded pipeline"} {
		if j := p.Log.Index(line); j >= 0 {
			t.Errorf("a refused reload changed something: %s", p.Log.Lines()[j])
		}
	}
	code := stop(t, p)
	assertRow(t, p, []string{"first", "second"}, row{succeeded: []string{"first", "second"}}, code)
}

// A SIGHUP during start-up reloads once every provider started; one
// during shutdown is ignored, and says so.
func TestSIGHUPDuringStartUpAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startFIFO, shutdownFIFO := filepath.Join(dir, "start"), filepath.Join(dir, "shutdown")
	for _, f := range []string{startFIFO, shutdownFIFO} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := pipeline(t, testProviders("first", "second"))
	p := runAgent(t, file, faults("agent:before second start=wait:"+startFIFO))
	p.WaitLog(t, "Started first", waitLine)
	rewrite(t, file, "", testProviders("first|shutdown_wait_fifo: "+shutdownFIFO, "second"))
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "Reloading once every provider started", waitLine)
	if i := p.Log.Index("Reloading the pipeline"); i >= 0 {
		t.Fatalf("the reload ran during start-up: %s", p.Log.Lines()[i])
	}
	openFIFO(t, startFIFO)
	started := p.WaitLog(t, "All 2 providers started", waitLine)
	reloaded := p.WaitLog(t, "sia-agent: Reloaded pipeline", waitLine)
	if reloaded < started {
		t.Errorf("the reload ended before start-up did")
	}
	p.WaitLog(t, "Restarting first to apply its new configuration", 0)

	from := len(p.Log.Lines())
	p.Signal(t, syscall.SIGTERM)
	if _, err := p.Log.WaitFrom(from, "sia-agent.first: Shutdown called", waitLine); err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "Ignoring SIGHUP: shutdown is in progress", waitLine)
	openFIFO(t, shutdownFIFO)
	code := p.Exit(t, waitExit)
	assertRow(t, p, []string{"first", "second"}, row{succeeded: []string{"first", "second"}}, code)
	if n := strings.Count(p.Log.String(), "Reloading the pipeline"); n != 1 {
		t.Errorf("%d reloads ran, want 1", n)
	}
}

// openFIFO opens a FIFO for writing, which lets the process waiting on it
// go on.
func openFIFO(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A reload that adds a token target applies it in place: the new target
// is served and its files written once the reload ends, and a client that
// asks for the old target all along never sees a failed request: the
// token server never went down.
func TestReloadAddsATokenTargetWithoutAFailedRequest(t *testing.T) {
	t.Parallel()
	env := newTokenEnv(t, string(ztsdev.DemoConfig()))
	one := env.tokenConfig("[{domain: sia.demo, roles: [reader]}]", tokenFastRetries)
	file := tokenPipeline(t, "", one, nil)
	p := runAgent(t, file, nil)
	waitAllStarted(t, p)
	url := serverURL(t, p, "token", "token provider server")

	stopLoop := make(chan struct{})
	loop := make(chan []string, 1)
	first := make(chan struct{})
	go func() {
		var failures []string
		for n := 0; ; n++ {
			select {
			case <-stopLoop:
				loop <- failures
				return
			default:
			}
			code, body, err := tryGet(url+"/", http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"reader"}})
			if err != nil || code != http.StatusOK {
				failures = append(failures, fmt.Sprintf("request %d: %d %s %v", n, code, body, err))
			}
			if n == 0 {
				close(first)
			}
		}
	}()
	<-first

	two := env.tokenConfig("[{domain: sia.demo, roles: [reader]}, {domain: sia.demo, roles: [writer]}]", tokenFastRetries)
	body, err := os.ReadFile(tokenPipeline(t, "", two, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, "sia-agent: Reloaded pipeline", waitLine)
	close(stopLoop)
	if failures := <-loop; len(failures) > 0 {
		t.Errorf("%d requests failed during the reload, the first: %s", len(failures), failures[0])
	}
	p.WaitLog(t, "Reconfigured token in place", 0)
	if n := strings.Count(p.Log.String(), "Starting token provider server["); n != 1 {
		t.Errorf("the token server started %d times, want once", n)
	}
	if i := p.Log.Index("Initiating shutdown of token"); i >= 0 {
		t.Errorf("the token provider was shut down: %s", p.Log.Lines()[i])
	}
	// Served, and written, as soon as the reload ended.
	if code, body := fetch(t, url+"/", http.Header{"X-Athenz-Domain": {"sia.demo"}, "X-Athenz-Role": {"writer"}}); code != http.StatusOK {
		t.Errorf("the new target: %d %s", code, body)
	}
	for _, name := range []string{"sia.demo:role.writer.accesstoken", "sia.demo:role.writer.roletoken"} {
		if _, err := os.Stat(filepath.Join(env.tokenDir, name)); err != nil {
			t.Errorf("the new target's file: %v", err)
		}
	}
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder}, code)
}

// tryGet is a GET that returns what went wrong instead of failing the
// test: for a goroutine of the test.
func tryGet(url string, header http.Header) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header = header
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b), nil
}

// With agent.watch_config, a changed file reloads as SIGHUP does: here a
// ConfigMap's update, which swaps the ..data symlink the file goes
// through.
func TestWatchConfigReloadsAChangedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	extra := "  watch_config: true\n"
	v1 := pipelineWith(t, extra, testProviders("first"))
	must(t, os.Mkdir(filepath.Join(dir, "..v1"), 0o700))
	must(t, os.Rename(v1, filepath.Join(dir, "..v1", "pipeline.yaml")))
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	file := filepath.Join(dir, "pipeline.yaml")
	must(t, os.Symlink("..data/pipeline.yaml", file))
	p := runAgent(t, file, nil)
	p.WaitLog(t, "All 1 providers started", waitLine)

	must(t, os.Mkdir(filepath.Join(dir, "..v2"), 0o700))
	rewrite(t, filepath.Join(dir, "..v2", "pipeline.yaml"), extra, testProviders("first", "added"))
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	p.WaitLog(t, "The pipeline file changed", waitLine)
	p.WaitLog(t, "Started added", waitLine)
	p.WaitLog(t, "sia-agent: Reloaded pipeline", waitLine)
	code := stop(t, p)
	assertRow(t, p, []string{"first", "added"}, row{succeeded: []string{"first", "added"}}, code)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
