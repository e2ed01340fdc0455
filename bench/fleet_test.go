package bench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sia-agent/sia-agent/plugins/cert"
	"github.com/sia-agent/sia-agent/plugins/token"
	"github.com/sia-agent/sia-agent/sdk"
)

// The fleet simulation: N agents, each with the cert provider's schedule
// (an identity and a role certificate) and the token provider's cache and
// refresh loop (an access token and a role token), sharing per agent one
// circuit for ZTS as the agent's providers do, against a model of ZTS with
// a capacity in requests per second. It runs the providers' own
// scheduling, retry and circuit code on virtual time (testing/synctest):
// hours pass in seconds. docs/zts-load.md shows what it found.
//
// synctest needs a *testing.T, so the simulation is a test that only runs
// when asked: `make bench` runs it with -fleet.

var (
	fleetRun = flag.Bool("fleet", false, "run the fleet simulation (make bench does)")
	fleetN   = flag.Int("fleet.n", 10000, "agents in the fleet simulation")
	fleetOut = flag.String("fleet.out", "", "directory for fleet.csv and fleet.png; empty: the test's temporary directory")
)

// Lifetimes the model ZTS issues: Athenz's defaults for access tokens (1h)
// and role tokens (2h), and a day for certificates.
const (
	accessLife = time.Hour
	roleLife   = 2 * time.Hour
	certLife   = 24 * time.Hour
	zsLatency  = 20 * time.Millisecond
	// The model ZTS's buckets: requests are counted per second, and
	// plotted over windows of 10 seconds. Peaks are compared over a
	// minute, sliding by 10 seconds: at a few requests a second a
	// 10-second window is mostly chance (the steady state's own 10-second
	// peak is half as much again as its mean), and both are reported.
	window     = 10 * time.Second
	peakWindow = time.Minute
)

// modelZTS answers every call after zsLatency: 503 while it is down or
// beyond its capacity in the current second, else a credential of the
// usual lifetime.
type modelZTS struct {
	capacity int
	start    time.Time

	mu       sync.Mutex
	down     bool
	requests []int32 // per second since start
	rejected []int32
}

func newModelZTS(capacity int) *modelZTS { return &modelZTS{capacity: capacity, start: time.Now()} }

func (z *modelZTS) setDown(down bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.down = down
}

// call counts a request and returns its status.
func (z *modelZTS) call(ctx context.Context) int {
	z.mu.Lock()
	sec := int(time.Since(z.start) / time.Second)
	for len(z.requests) <= sec {
		z.requests, z.rejected = append(z.requests, 0), append(z.rejected, 0)
	}
	z.requests[sec]++
	fail := z.down || int(z.requests[sec]) > z.capacity
	if fail {
		z.rejected[sec]++
	}
	z.mu.Unlock()
	t := time.NewTimer(zsLatency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return 0
	}
	if fail {
		return 503
	}
	return 200
}

func (z *modelZTS) token(ctx context.Context, access bool, _, _ string) (time.Time, int, time.Duration) {
	life := roleLife
	if access {
		life = accessLife
	}
	return time.Now().Add(life), z.call(ctx), 0
}

func (z *modelZTS) cert(ctx context.Context, _ bool, _ string) (time.Time, int, time.Duration) {
	return time.Now().Add(certLife), z.call(ctx), 0
}

// simAgent is one agent of the fleet.
type simAgent struct {
	certs  *cert.Simulated
	tokens *token.Simulated

	started  atomic.Bool
	expired  bool // it served an expired token
	unserved bool // once fresh, it had no token to serve at a sample
	wasFresh bool
}

func newSimAgent(z *modelZTS) *simAgent {
	circuits := sdk.NewCircuitSet() // the agent's, shared by its providers
	a := &simAgent{certs: cert.NewSimulated(cert.Config{}, []string{"sia.demo:role.reader"}, z.cert, circuits)}
	a.tokens = token.NewSimulated(token.DefaultConfig(), map[string]string{"sia.demo": "reader"}, z.token, circuits,
		func() bool { return a.certs.HasIdentity(time.Now()) })
	return a
}

// start runs the agent's Init and Start in pipeline order.
func (a *simAgent) start(ctx context.Context) {
	a.certs.Start(ctx)
	a.tokens.Start(ctx)
}

func (a *simAgent) stop() {
	a.tokens.Stop()
	a.certs.Stop()
}

// margin is how long every credential must stay valid to count as fresh:
// the token cache's expiry margin.
const margin = 5 * time.Second

// sample looks at the agent as a client would at now: whether it is fresh
// (every credential valid for at least the margin), and what it serves.
func (a *simAgent) sample(now time.Time) bool {
	served, expired := a.tokens.Serve(now)
	fresh := served && a.certs.Fresh(now, margin)
	a.expired = a.expired || expired
	if a.wasFresh && !served {
		a.unserved = true
	}
	a.wasFresh = a.wasFresh || fresh
	return fresh
}

// scenario is one run of the fleet.
type scenario struct {
	name        string
	agents      int
	capacity    int           // the model ZTS's, requests per second
	spread      time.Duration // agents start at random over this long
	steadyFrom  time.Duration // the steady state is measured from here to the outage
	outageAt    time.Duration // 0: none
	outageFor   time.Duration
	horizon     time.Duration
	sampleEvery time.Duration
}

// outcome is what a scenario measured.
type outcome struct {
	requests, rejected []int32   // per second
	fresh              []float64 // fraction of agents fresh, per sample
	sampleEvery        time.Duration
	expired, unserved  int
}

// run runs sc in a synctest bubble.
func (sc scenario) run(t *testing.T) outcome {
	var out outcome
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		z := newModelZTS(sc.capacity)
		agents := make([]*simAgent, sc.agents)
		for i := range agents {
			agents[i] = newSimAgent(z)
		}
		begin := time.Now()
		go sc.startAll(ctx, agents, begin)
		if sc.outageAt > 0 {
			go func() {
				time.Sleep(sc.outageAt)
				z.setDown(true)
				time.Sleep(sc.outageFor)
				z.setDown(false)
			}()
		}
		for now := time.Now(); now.Sub(begin) < sc.horizon; now = time.Now() {
			out.fresh = append(out.fresh, float64(sampleAll(agents, now))/float64(len(agents)))
			time.Sleep(sc.sampleEvery)
		}
		cancel()
		for _, a := range agents {
			a.stop()
			if a.expired {
				out.expired++
			}
			if a.unserved {
				out.unserved++
			}
		}
		synctest.Wait()
		z.mu.Lock()
		out.requests, out.rejected = z.requests, z.rejected
		z.mu.Unlock()
	})
	out.sampleEvery = sc.sampleEvery
	return out
}

// sampleAll samples every agent at now and returns how many are fresh.
// Virtual time stands still while it runs (this goroutine is not
// blocked), so it samples on every core, each a slice of the fleet: it is
// most of the simulation's work.
func sampleAll(agents []*simAgent, now time.Time) int {
	var fresh atomic.Int64
	var wg sync.WaitGroup
	per := (len(agents) + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for part := range slices.Chunk(agents, per) {
		wg.Go(func() {
			n := 0
			for _, a := range part {
				if a.started.Load() && a.sample(now) {
					n++
				}
			}
			fresh.Add(int64(n))
		})
	}
	wg.Wait()
	return int(fresh.Load())
}

// startAll starts the agents at random over sc.spread, in a random order.
func (sc scenario) startAll(ctx context.Context, agents []*simAgent, begin time.Time) {
	at := make([]time.Duration, len(agents))
	for i := range at {
		at[i] = time.Duration(float64(sc.spread) * float64(i) / float64(len(agents)))
	}
	var wg sync.WaitGroup
	for i, a := range agents {
		if d := at[i] - time.Since(begin); d > 0 {
			time.Sleep(d)
		}
		a.started.Store(true)
		wg.Go(func() { a.start(ctx) })
	}
	wg.Wait()
}

// rate is the mean requests per second over [from, to).
func (o outcome) rate(from, to time.Duration) float64 {
	lo, hi := int(from/time.Second), min(int(to/time.Second), len(o.requests))
	if hi <= lo {
		return 0
	}
	var n int64
	for _, r := range o.requests[lo:hi] {
		n += int64(r)
	}
	return float64(n) / float64(hi-lo)
}

// peak is the highest mean rate over width in [from, to), the window
// sliding by 10 seconds.
func (o outcome) peak(from, to, width time.Duration) (rate float64, at time.Duration) {
	for w := from; w+width <= to; w += window {
		if r := o.rate(w, w+width); r > rate {
			rate, at = r, w
		}
	}
	return rate, at
}

// freshAfter is how long after from until 99% of the agents were fresh.
func (o outcome) freshAfter(from time.Duration) (time.Duration, bool) {
	for i := int(from / o.sampleEvery); i < len(o.fresh); i++ {
		if o.fresh[i] >= 0.99 {
			return time.Duration(i)*o.sampleEvery - from, true
		}
	}
	return 0, false
}

// minFresh is the lowest fraction of fresh agents in [from, to).
func (o outcome) minFresh(from, to time.Duration) float64 {
	low := 1.0
	for i := int(from / o.sampleEvery); i < len(o.fresh) && time.Duration(i)*o.sampleEvery < to; i++ {
		low = math.Min(low, o.fresh[i])
	}
	return low
}

// credentials per agent: identity, role certificate, access token, role
// token. A fixed 30-minute refresh of each makes 8 calls an hour.
const (
	credentialsPerAgent = 4
	fixedRefreshPerHour = credentialsPerAgent * 2.0
)

func TestFleetSimulation(t *testing.T) {
	if !*fleetRun {
		t.Skip("the fleet simulation runs with -fleet (make bench)")
	}
	dir := *fleetOut
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := *fleetN
	steady := scenario{
		name: "steady", agents: n, capacity: max(n/100, 5), spread: time.Hour,
		steadyFrom: 2 * time.Hour, outageAt: 4 * time.Hour, outageFor: 10 * time.Minute,
		horizon: 6*time.Hour + 10*time.Minute, sampleEvery: 10 * time.Second,
	}
	rollout := scenario{name: "rollout", agents: n, capacity: steady.capacity, horizon: 20 * time.Minute, sampleEvery: 10 * time.Second}
	var o, r outcome
	t.Run("steady, outage, recovery", func(t *testing.T) {
		began := time.Now()
		o = steady.run(t)
		t.Logf("%d agents simulated for %v in %v", n, steady.horizon, time.Since(began).Round(time.Millisecond))
		o.report(t, steady)
		if err := o.writeCSV(filepath.Join(dir, "fleet.csv")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rollout", func(t *testing.T) {
		began := time.Now()
		r = rollout.run(t)
		rPeak, _ := r.peak(0, rollout.horizon, window)
		rFresh, ok := r.freshAfter(0)
		t.Logf("%d agents started at once against a capacity of %d/s, simulated for %v in %v: peak %.2f requests/s, 99%% fresh after %v (found: %v), %d of %d requests answered 503",
			n, rollout.capacity, rollout.horizon, time.Since(began).Round(time.Millisecond), rPeak, rFresh, ok, sum(r.rejected), sum(r.requests))
	})
	if o.requests != nil && r.requests != nil {
		if err := plotFleet(filepath.Join(dir, "fleet.png"), o, steady, r); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s and %s", filepath.Join(dir, "fleet.csv"), filepath.Join(dir, "fleet.png"))
	}
	t.Run("one agent", oneAgent)
}

// report logs what the steady scenario measured.
func (o outcome) report(t *testing.T, sc scenario) {
	end := sc.outageAt + sc.outageFor
	steadyRate := o.rate(sc.steadyFrom, sc.outageAt)
	peak, peakAt := o.peak(end, sc.horizon, peakWindow)
	peak10, peak10At := o.peak(end, sc.horizon, window)
	steady10, _ := o.peak(sc.steadyFrom, sc.outageAt, window)
	freshIn, ok := o.freshAfter(end)
	perAgent := steadyRate * 3600 / float64(sc.agents)
	t.Logf("steady state: %.2f ZTS requests/s, %.2f per agent per hour (%.2f× a fixed 30-minute refresh of %d credentials, %.0f per hour)",
		steadyRate, perAgent, perAgent/fixedRefreshPerHour, credentialsPerAgent, fixedRefreshPerHour)
	t.Logf("outage (%v): %.2f requests/s at ZTS while down; lowest share of fresh agents %.4f",
		sc.outageFor, o.rate(sc.outageAt, end), o.minFresh(sc.outageAt, sc.horizon))
	t.Logf("recovery: peak %.2f requests/s over %v at +%v: %.2f× the steady rate", peak, peakWindow, peakAt-end, peak/steadyRate)
	t.Logf("recovery: peak %.2f requests/s over %v at +%v: %.2f× the steady rate (the steady state's own over %v: %.2f×)",
		peak10, window, peak10At-end, peak10/steadyRate, window, steady10/steadyRate)
	t.Logf("recovery: 99%% of agents fresh %v after ZTS was back (found: %v)", freshIn, ok)
	t.Logf("agents that served an expired token: %d; that had a token to serve and lost it: %d", o.expired, o.unserved)
}

// oneAgent is the budget of one agent: ZTS answers 503 from its start for
// five minutes. Each of 200 agents has a ZTS of its own.
func oneAgent(t *testing.T) {
	began := time.Now()
	const trials = 200
	const outage = 5 * time.Minute
	var during, after []int
	var freshIn []time.Duration
	var mu sync.Mutex
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range trials {
			wg.Go(func() {
				z := newModelZTS(1000)
				z.setDown(true)
				a := newSimAgent(z)
				a.start(ctx)
				time.Sleep(outage - time.Since(z.start))
				z.mu.Lock()
				d := int(sum(z.requests))
				z.down = false
				z.mu.Unlock()
				for !a.sample(time.Now()) {
					time.Sleep(100 * time.Millisecond)
				}
				took := time.Since(z.start) - outage
				z.mu.Lock()
				total := int(sum(z.requests))
				z.mu.Unlock()
				mu.Lock()
				during, after, freshIn = append(during, d), append(after, total-d), append(freshIn, took)
				mu.Unlock()
				a.stop()
			})
		}
		wg.Wait()
		cancel()
	})
	sort.Ints(during)
	sort.Slice(freshIn, func(i, j int) bool { return freshIn[i] < freshIn[j] })
	t.Logf("ZTS 503 for 5 minutes from the agent's start, %d trials in %v: ZTS requests while down median %d, max %d; all fresh after recovery median %v, max %v (cap %v)",
		trials, time.Since(began).Round(time.Millisecond), during[trials/2], during[trials-1],
		freshIn[trials/2].Round(time.Millisecond), freshIn[trials-1].Round(time.Millisecond), sdk.DefaultCircuitPolicy().Max)
}

func sum(xs []int32) int64 {
	var n int64
	for _, x := range xs {
		n += int64(x)
	}
	return n
}

// writeCSV writes one line per window: seconds since the start, requests
// and rejections per second, and the share of fresh agents.
func (o outcome) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "seconds,requests_per_second,rejected_per_second,fresh_share")
	perSample := int(window / o.sampleEvery)
	for w := time.Duration(0); int(w/time.Second) < len(o.requests); w += window {
		var rej int64
		for _, r := range o.rejected[int(w/time.Second):min(int((w+window)/time.Second), len(o.rejected))] {
			rej += int64(r)
		}
		fresh := math.NaN()
		if i := int(w/window) * perSample; i < len(o.fresh) {
			fresh = o.fresh[i]
		}
		fmt.Fprintf(f, "%d,%.2f,%.2f,%.4f\n", int(w/time.Second), o.rate(w, w+window), float64(rej)/window.Seconds(), fresh)
	}
	return f.Close()
}
