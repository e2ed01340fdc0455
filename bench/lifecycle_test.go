// Package bench measures the agent's lifecycle on real processes: exec to
// every provider started, SIGINT to exit, resident memory, and the cost of
// one Start/Shutdown round trip. Run with `make bench`; figures and how to
// read them are in docs/benchmarks.md.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/pluginhost"
	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk"
)

var bins string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sia-bench-bin-")
	if err == nil {
		// Benchmarks measure release builds: no race detector.
		err = buildRelease(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildRelease(dir string) error {
	root, err := e2e.ModuleRoot()
	if err != nil {
		return err
	}
	// The release build flags of the Makefile.
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace", "-ldflags", "-s -w",
		"-o", dir+"/", "./cmd/sia-agent", "./cmd/zts-dev", "./internal/cmd/sia-plugin-test",
		"./bench/grpcidle", "./bench/pluginfloor", "./bench/floorhost", "./bench/limitserver")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building: %w\n%s", err, out)
	}
	return nil
}

// noopPipeline has four no-op providers, the specification's four places.
func noopPipeline(b *testing.B) string {
	var s strings.Builder
	fmt.Fprintf(&s, "version: 1\nagent:\n  plugin_dir: %s\n  log_level: info\nproviders:\n", bins)
	for _, name := range []string{"certificate", "token", "metrics", "healthcheck"} {
		fmt.Fprintf(&s, "  - name: %s\n    plugin: sia-plugin-test\n", name)
	}
	return e2e.WriteFile(b, b.TempDir(), "pipeline.yaml", s.String())
}

// BenchmarkLifecycle runs the agent with four no-op providers once per
// iteration and reports the medians of exec → all started and SIGINT →
// exit, with the agent's and the plugins' resident memory, next to the
// baseline of exec → exit of `sia-agent version` measured in the same run.
func BenchmarkLifecycle(b *testing.B) {
	file := noopPipeline(b)
	agent := filepath.Join(bins, "sia-agent")
	var started, stopped, baseline []time.Duration
	var agentRSS, pluginRSS, pluginAnon, baseRSS, floorRSS []float64
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command(agent, "version").Run(); err != nil {
			b.Fatal(err)
		}
		baseline = append(baseline, time.Since(t0))

		t0 = time.Now()
		p := e2e.Start(b, agent, nil, "run", "--config", file)
		if _, err := p.Log.Wait("All 4 providers started", 30*time.Second); err != nil {
			b.Fatalf("%v\n%s", err, p.Log.String())
		}
		started = append(started, time.Since(t0))

		a, plugins := rss(b, p.Cmd.Process.Pid)
		agentRSS = append(agentRSS, a.total)
		for _, m := range plugins {
			pluginRSS = append(pluginRSS, m.total)
			pluginAnon = append(pluginAnon, m.anon)
		}
		baseRSS = append(baseRSS, idleGRPCRSS(b))
		floorRSS = append(floorRSS, pluginFloorRSS(b))

		t0 = time.Now()
		p.Signal(b, syscall.SIGINT)
		if code := p.Exit(b, 30*time.Second); code != 0 {
			b.Fatalf("exit code %d\n%s", code, p.Log.String())
		}
		stopped = append(stopped, time.Since(t0))
	}
	base := median(baseline)
	b.ReportMetric(ms(base), "ms-baseline-exec")
	b.ReportMetric(ms(median(started)), "ms-exec-to-all-started")
	b.ReportMetric(float64(median(started))/float64(base), "x-baseline-started")
	b.ReportMetric(ms(median(stopped)), "ms-sigint-to-exit")
	b.ReportMetric(float64(median(stopped))/float64(base), "x-baseline-stopped")
	b.ReportMetric(medianF(agentRSS), "MB-agent-rss")
	b.ReportMetric(medianF(pluginRSS), "MB-plugin-rss")
	b.ReportMetric(medianF(pluginAnon), "MB-plugin-private")
	b.ReportMetric(medianF(baseRSS), "MB-baseline-grpc-rss")
	b.ReportMetric(medianF(pluginRSS)/medianF(baseRSS), "x-baseline-rss")
	b.ReportMetric(medianF(floorRSS), "MB-go-plugin-floor-rss")
	b.ReportMetric(medianF(pluginRSS)/medianF(floorRSS), "x-go-plugin-floor-rss")
}

// pluginFloorRSS is the resident memory of go-plugin serving the provider
// protocol with nothing behind it, launched and handshaken like a plugin.
func pluginFloorRSS(b *testing.B) float64 {
	p, err := pluginhost.Launch(context.Background(), pluginhost.Spec{Name: "floor", Path: filepath.Join(bins, "pluginfloor")},
		pluginhost.Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	pid, _ := strconv.Atoi(p.Pid())
	return rssOf(pid).total
}

// idleGRPCRSS is the resident memory of the baseline process: a Go
// program that links gRPC, listens, and does nothing else.
func idleGRPCRSS(b *testing.B) float64 {
	cmd := exec.Command(filepath.Join(bins, "grpcidle"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 16)
	if _, err := out.Read(buf); err != nil { // "ready\n" once listening
		b.Fatal(err)
	}
	return rssOf(cmd.Process.Pid).total
}

// BenchmarkStartShutdownRoundTrip measures one Start and one Shutdown call
// to a no-op plugin process, against go-plugin's bare gRPC health check
// (Ping) to the same process as the baseline.
func BenchmarkStartShutdownRoundTrip(b *testing.B) {
	log := hclog.NewNullLogger()
	p, err := pluginhost.Launch(context.Background(), pluginhost.Spec{Name: "noop", Path: filepath.Join(bins, "sia-plugin-test")}, pluginhost.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	ctx := context.Background()
	if _, err := p.Validate(ctx, "bench.yaml", nil, sdk.ModeRefresh); err != nil {
		b.Fatal(err)
	}
	if err := p.Init(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ping", func(b *testing.B) {
		for b.Loop() {
			if err := p.Ping(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("start-shutdown", func(b *testing.B) {
		for b.Loop() {
			if err := p.Start(ctx); err != nil {
				b.Fatal(err)
			}
			if err := p.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// mem is a process's resident memory in MB: all of it, and the private
// (anonymous) part, which excludes the binary's clean, shared text.
type mem struct{ total, anon float64 }

// rss returns the resident memory of pid and of each of its children.
func rss(b *testing.B, pid int) (mem, []mem) {
	b.Helper()
	self := rssOf(pid)
	pids, err := e2e.Children(pid)
	if err != nil {
		b.Fatal(err)
	}
	children := make([]mem, len(pids))
	for i, child := range pids {
		children[i] = rssOf(child)
	}
	return self, children
}

func rssOf(pid int) mem {
	var m mem
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			m.total = kb / 1024
		case "RssAnon:":
			m.anon = kb / 1024
		}
	}
	return m
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
