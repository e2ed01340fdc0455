package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/internal/e2e"
)

// BenchmarkStartup measures, in one run, what the plugin architecture
// adds to the agent's start on the demo pipeline, against the floor of
// the transport it is built on:
//
//   - floor: four copies of a bare go-plugin plugin (pluginfloor)
//     launched, handshaken and dispensed in parallel by a minimal go-plugin
//     host without TLS (floorhost), exec to ready; and the same with
//     go-plugin's AutoMTLS, to show what the agent's own channel keys save;
//   - sia-agent from a fresh state directory: exec to "Loaded pipeline"
//     (every plugin launched, handshaken over TLS and its config
//     validated), exec to the token server's first 200, and the time the
//     ZTS calls of Init took, from the status report.
//
// The budget is loaded ≤ 2 × floor.
func BenchmarkStartup(b *testing.B) {
	d := newDemo(b)
	var floor, floorMTLS, loaded, served, zts []time.Duration
	for b.Loop() {
		floor = append(floor, floorHost(b, 4, false))
		floorMTLS = append(floorMTLS, floorHost(b, 4, true))

		d.fresh(b)
		t0 := time.Now()
		p := e2e.Start(b, filepath.Join(bins, "sia-agent"), nil, "run", "--config", d.file)
		if _, err := p.Log.Wait("Loaded pipeline", time.Minute); err != nil {
			b.Fatalf("%v\n%s", err, p.Log)
		}
		loaded = append(loaded, time.Since(t0))
		i, err := p.Log.Wait("Starting token provider server[", time.Minute)
		if err != nil {
			b.Fatalf("%v\n%s", err, p.Log)
		}
		addr := serverRE.FindStringSubmatch(p.Log.Lines()[i])[2]
		firstOK(b, "http://"+addr+"/", headerRequest)
		served = append(served, time.Since(t0))
		a := &agent{Process: p}
		if _, err := p.Log.Wait("All 4 providers started", time.Minute); err != nil {
			b.Fatalf("%v\n%s", err, p.Log)
		}
		a.stop(b)
		zts = append(zts, d.ztsTime(b))
	}
	f := median(floor)
	b.ReportMetric(ms(f), "ms-floor")
	b.ReportMetric(ms(median(floorMTLS)), "ms-floor-automtls")
	b.ReportMetric(ms(median(loaded)), "ms-exec-to-loaded")
	b.ReportMetric(float64(median(loaded))/float64(f), "x-floor-loaded")
	b.ReportMetric(ms(median(served)), "ms-exec-to-token-200")
	b.ReportMetric(ms(median(zts)), "ms-zts-calls")
}

// floorHost runs floorhost with n copies of pluginfloor and returns exec
// to ready.
func floorHost(b *testing.B, n int, autoMTLS bool) time.Duration {
	b.Helper()
	args := []string{"-n", strconv.Itoa(n)}
	if autoMTLS {
		args = append(args, "-automtls")
	}
	cmd := exec.Command(filepath.Join(bins, "floorhost"), append(args, filepath.Join(bins, "pluginfloor"))...)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	took := time.Since(t0)
	if err != nil || line != "ready\n" {
		b.Fatalf("floorhost: %q, %v", line, err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	return took
}

// firstOK asks url until it answers 200, a millisecond apart: the
// resolution of the measurement.
func firstOK(b *testing.B, url string, header map[string]string) {
	b.Helper()
	poll(b, url, header, func(code int) bool { return code == http.StatusOK })
}

// poll asks url, a millisecond apart, until it gives an answer done
// accepts, and returns it.
func poll(b *testing.B, url string, header map[string]string, done func(code int) bool) (int, string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if done(resp.StatusCode) {
				return resp.StatusCode, string(body)
			}
		}
		time.Sleep(time.Millisecond) // measuring: the step of the clock
	}
	b.Fatalf("%s never gave the answer wanted", url)
	return 0, ""
}

// procMem is what the kernel charges one process, in MiB: resident, its
// proportional share of pages shared with other processes, and what it
// alone holds (private pages, and of them the anonymous ones: heap and
// stacks, not the binary's text).
type procMem struct {
	name                    string
	rss, pss, private, anon float64
}

func memOf(pid int) procMem {
	m := procMem{name: processName(pid)}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			m.rss = kb / 1024
		case "Pss:":
			m.pss = kb / 1024
		case "Private_Clean:", "Private_Dirty:":
			m.private += kb / 1024
		case "Anonymous:":
			m.anon = kb / 1024
		}
	}
	return m
}

// processName is "agent" for the agent, the provider's name for a
// built-in provider's plugin process.
func processName(pid int) string {
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 3 && args[1] == "internal-plugin" {
		return args[2]
	}
	return "agent"
}

// tree is the memory of the agent and of every plugin process.
func tree(b *testing.B, pid int) []procMem {
	b.Helper()
	children, err := e2e.Children(pid)
	if err != nil {
		b.Fatal(err)
	}
	out := []procMem{memOf(pid)}
	for _, c := range children {
		out = append(out, memOf(c))
	}
	return out
}

// cgroup is a memory cgroup the agent runs in, where the machine lets the
// benchmark make one: cgroup v2 when its memory controller is there, v1
// otherwise.
type cgroup struct {
	dir string
	v2  bool
}

func newCgroup(b *testing.B) *cgroup {
	b.Helper()
	name := fmt.Sprintf("sia-bench-%d", os.Getpid())
	for _, c := range []cgroup{{dir: "/sys/fs/cgroup", v2: true}, {dir: "/sys/fs/cgroup/unified", v2: true}, {dir: "/sys/fs/cgroup/memory"}} {
		if c.v2 {
			ctl, err := os.ReadFile(filepath.Join(c.dir, "cgroup.controllers"))
			if err != nil || !strings.Contains(string(ctl), "memory") {
				continue
			}
		}
		dir := filepath.Join(c.dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		b.Cleanup(func() { _ = os.Remove(dir) })
		return &cgroup{dir: dir, v2: c.v2}
	}
	return nil
}

// wrap returns the command line that runs argv inside the cgroup.
func (c *cgroup) wrap(argv ...string) []string {
	return append([]string{"sh", "-c", `echo $$ > "$0/cgroup.procs" && shift && exec "$@"`, c.dir, "x"}, argv...)
}

// usage is the group's charged memory and its working set (the charge
// less the inactive file cache, which the kernel reclaims first), in MiB.
func (c *cgroup) usage(b *testing.B) (charged, workingSet float64) {
	b.Helper()
	file, inactive := "memory.current", "inactive_file"
	if !c.v2 {
		file, inactive = "memory.usage_in_bytes", "total_inactive_file"
	}
	raw, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		b.Fatal(err)
	}
	bytes, _ := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
	stat, err := os.ReadFile(filepath.Join(c.dir, "memory.stat"))
	if err != nil {
		b.Fatal(err)
	}
	var inactiveBytes float64
	for _, line := range strings.Split(string(stat), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == inactive {
			inactiveBytes, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	return bytes / (1 << 20), (bytes - inactiveBytes) / (1 << 20)
}

// BenchmarkMemory runs the demo pipeline, puts 10 s of header-mode load
// (wrk -t2 -c32) on the token server, and reports what the kernel charges:
// per process and summed over the agent's tree, RSS, PSS (which divides
// every shared page among the processes that map it, so that the sum is
// what the tree really uses) and private memory; the idle first-party
// plugins' anonymous memory before the load against that of a bare
// go-plugin plugin (pluginfloor) measured in the same run; and, where the
// machine lets the benchmark make a memory cgroup, the group's charge and
// working set. The budgets: summed PSS ≤ 40 MiB; an idle plugin's
// anonymous memory ≤ 1.5 × the floor's.
func BenchmarkMemory(b *testing.B) {
	needWrk(b)
	d := newDemo(b)
	cg := newCgroup(b)
	sums := map[string][]float64{}
	per := map[string][]float64{}
	add := func(m map[string][]float64, k string, v float64) { m[k] = append(m[k], v) }
	for b.Loop() {
		d.fresh(b)
		argv := []string{filepath.Join(bins, "sia-agent"), "run", "--config", d.file}
		if cg != nil {
			argv = cg.wrap(argv...)
		}
		a := d.startArgv(b, argv)
		var idle float64
		for _, m := range tree(b, a.Cmd.Process.Pid) {
			if m.name != "agent" && m.name != "token" {
				idle = max(idle, m.anon)
			}
		}
		add(sums, "idle-plugin-anon", idle)
		add(sums, "floor-anon", floorAnon(b))

		wrk(b, "http://"+a.token+"/", 10*time.Second, wrkHeaders(headerRequest)...)
		var rss, pss, private float64
		for _, m := range tree(b, a.Cmd.Process.Pid) {
			rss, pss, private = rss+m.rss, pss+m.pss, private+m.private
			add(per, m.name+"-pss", m.pss)
			add(per, m.name+"-anon", m.anon)
		}
		add(sums, "rss", rss)
		add(sums, "pss", pss)
		add(sums, "private", private)
		if cg != nil {
			charged, ws := cg.usage(b)
			add(sums, "cgroup", charged)
			add(sums, "cgroup-working-set", ws)
		}
		a.stop(b)
	}
	b.ReportMetric(medianF(sums["pss"]), "MiB-sum-pss")
	b.ReportMetric(medianF(sums["rss"]), "MiB-sum-rss")
	b.ReportMetric(medianF(sums["private"]), "MiB-sum-private")
	if cg != nil {
		b.ReportMetric(medianF(sums["cgroup"]), "MiB-cgroup")
		b.ReportMetric(medianF(sums["cgroup-working-set"]), "MiB-cgroup-working-set")
	}
	for _, name := range []string{"agent", "cert", "token", "metrics", "health"} {
		b.ReportMetric(medianF(per[name+"-pss"]), "MiB-pss-"+name)
		b.ReportMetric(medianF(per[name+"-anon"]), "MiB-anon-"+name)
	}
	floor := medianF(sums["floor-anon"])
	b.ReportMetric(floor, "MiB-anon-floor")
	b.ReportMetric(medianF(sums["idle-plugin-anon"])/floor, "x-floor-idle-plugin-anon")
}

// startArgv is start with the command line given.
func (d *demo) startArgv(b *testing.B, argv []string) *agent {
	b.Helper()
	p := e2e.Start(b, argv[0], strings.Fields(os.Getenv("SIA_BENCH_ENV")), argv[1:]...)
	return d.await(b, p)
}

// floorAnon is the anonymous memory of one idle bare go-plugin plugin
// (pluginfloor), launched by the agent's own launcher: the same handshake
// and channel as a first-party plugin, and nothing behind them.
func floorAnon(b *testing.B) float64 {
	b.Helper()
	p, err := pluginhost.Launch(context.Background(), pluginhost.Spec{Name: "floor", Path: filepath.Join(bins, "pluginfloor")},
		pluginhost.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	pid, _ := strconv.Atoi(p.Pid())
	return memOf(pid).anon
}

// BenchmarkTokenServerUnderLoad drives the demo agent's token server and
// the bare limit server (the same answers, replayed by net/http) with wrk
// -t2 -c32, in alternating rounds, in header mode and on the REST API, and
// reports throughput and p99 as ratios token server / limit. The budgets:
// p99 ≤ 1.1 ×, throughput ≥ 0.95 ×. A second floor, the limit server with
// the token server's default timeouts (-timeouts), shows what of the gap
// the slow-client defences cost (x-timed-limit); the rest is the token
// server's own work. TOKEN_LOAD_ROUND (default 5s) and TOKEN_LOAD_ROUNDS
// (default 3) set the rounds.
func BenchmarkTokenServerUnderLoad(b *testing.B) {
	needWrk(b)
	round := time.Duration(envInt(b, "TOKEN_LOAD_ROUND", 5)) * time.Second
	rounds := envInt(b, "TOKEN_LOAD_ROUNDS", 3)
	d := newDemo(b)
	a := d.start(b, nil)
	defer a.stop(b)

	script := e2e.WriteFile(b, b.TempDir(), "post.lua", `wrk.method = "POST"
wrk.body = '{"domain":"sia.demo","role":"reader"}'
wrk.headers["Content-Type"] = "application/json"
`)
	kinds := []struct {
		name, path, raw string
		args            []string
	}{
		{"header", "/", "GET / HTTP/1.1\r\nHost: " + a.token + "\r\nX-Athenz-Domain: sia.demo\r\nX-Athenz-Role: reader\r\nConnection: close\r\n\r\n", wrkHeaders(headerRequest)},
		{"rest", "/accesstoken", "POST /accesstoken HTTP/1.1\r\nHost: " + a.token + "\r\nContent-Type: application/json\r\nContent-Length: 37\r\nConnection: close\r\n\r\n{\"domain\":\"sia.demo\",\"role\":\"reader\"}", []string{"-s", script}},
	}
	for b.Loop() {
		for _, k := range kinds {
			answer := capture(b, a.token, k.raw)
			servers := []string{a.token, limitServer(b, answer), limitServer(b, answer, "-timeouts")}
			var rps, p99 [3][]float64
			for range rounds {
				for i, addr := range servers {
					r, p := wrk(b, "http://"+addr+k.path, round, k.args...)
					rps[i] = append(rps[i], r)
					p99[i] = append(p99[i], float64(p.Microseconds())/1000)
				}
			}
			b.ReportMetric(medianF(rps[0]), k.name+"-req/s")
			b.ReportMetric(medianF(p99[0]), k.name+"-ms-p99")
			for i, floor := range []string{"limit", "timed-limit"} {
				b.ReportMetric(medianF(ratios(rps[0], rps[i+1])), k.name+"-x-"+floor+"-req/s")
				b.ReportMetric(medianF(ratios(p99[0], p99[i+1])), k.name+"-x-"+floor+"-p99")
			}
		}
	}
}

// ratios divides each of a by the b of the same round.
func ratios(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return r
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
