package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait on a channel, so that a broken runner fails the
// test instead of hanging it.
const wait = 10 * time.Second

// The four providers of docs/lifecycle.md's table.
var names = []string{"certificate", "token", "metrics", "healthcheck"}

// recorder keeps the calls the runner makes, in order. Cancellations are
// relayed to every unit concurrently, so they are kept per unit instead.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// fakeUnit is a provider without a process. Its hooks, when set, run in
// place of the phase and decide its result.
type fakeUnit struct {
	name string
	rec  *recorder

	init, start, shutdown, ping func(ctx context.Context) error
	timeout                     time.Duration        // its ShutdownTimeout
	cancel                      func(c Cancellation) // runs before Cancel records c
	// frozen makes Cancel answer nothing before its deadline, as a
	// stopped process does.
	frozen bool

	mu       sync.Mutex
	cancels  []Cancellation
	cancelCh chan Cancellation // every Cancel, for tests that wait for one

	exitOnce sync.Once
	exited   chan struct{}
	exitErr  error
}

func newUnit(name string, rec *recorder) *fakeUnit {
	return &fakeUnit{name: name, rec: rec, exited: make(chan struct{}), cancelCh: make(chan Cancellation, 16)}
}

func (u *fakeUnit) Name() string { return u.name }

func (u *fakeUnit) ShutdownTimeout() time.Duration { return u.timeout }

func (u *fakeUnit) Init(ctx context.Context) error {
	u.rec.add("init " + u.name)
	if u.init != nil {
		return u.init(ctx)
	}
	return nil
}

func (u *fakeUnit) Start(ctx context.Context) error {
	u.rec.add("start " + u.name)
	if u.start != nil {
		return u.start(ctx)
	}
	return nil
}

func (u *fakeUnit) Cancel(ctx context.Context, c Cancellation) error {
	if u.frozen {
		<-ctx.Done()
		return ctx.Err()
	}
	if u.cancel != nil {
		u.cancel(c)
	}
	u.mu.Lock()
	u.cancels = append(u.cancels, c)
	u.mu.Unlock()
	u.cancelCh <- c
	return nil
}

func (u *fakeUnit) Shutdown(ctx context.Context) error {
	u.rec.add("shutdown " + u.name)
	if u.shutdown != nil {
		return u.shutdown(ctx)
	}
	return nil
}

func (u *fakeUnit) Ping(ctx context.Context) error {
	if u.ping != nil {
		return u.ping(ctx)
	}
	return nil
}

func (u *fakeUnit) Kill() {
	u.exitOnce.Do(func() {
		u.rec.add("kill " + u.name)
		close(u.exited)
	})
}

func (u *fakeUnit) Abort() {
	u.exitOnce.Do(func() {
		u.rec.add("abort " + u.name)
		close(u.exited)
	})
}

// exit makes the unit's "process" die on its own.
func (u *fakeUnit) exit(err error) {
	u.exitOnce.Do(func() {
		u.exitErr = err
		close(u.exited)
	})
}

func (u *fakeUnit) Exited() <-chan struct{} { return u.exited }

func (u *fakeUnit) ExitErr() error {
	select {
	case <-u.exited:
		return u.exitErr
	default:
		return nil
	}
}

func (u *fakeUnit) Cancels() []Cancellation {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.cancels)
}

// awaitSignal waits until the unit hears a Cancel for sig, passing over
// earlier ones.
func (u *fakeUnit) awaitSignal(ctx context.Context, sig os.Signal) error {
	for {
		select {
		case c := <-u.cancelCh:
			if c.Signal == sig {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%s heard no Cancel for %v: %w", u.name, sig, ctx.Err())
		}
	}
}

// logLines collects what the runner logs, one message per line.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

var logRE = regexp.MustCompile(`^\[(\w+)\]\s+(.*)$`)

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	return len(p), nil
}

// Messages returns the INFO, WARN and ERROR messages, "LEVEL message".
func (l *logLines) Messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		m := logRE.FindStringSubmatch(line)
		if m == nil || m[1] == "DEBUG" || m[1] == "TRACE" {
			continue
		}
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// harness is a runner over four fake providers in those places.
type harness struct {
	t      *testing.T
	rec    *recorder
	units  []*fakeUnit
	byName map[string]*fakeUnit
	logs   *logLines
	sigs   chan os.Signal
	runner *Runner
	rules  fault.Rules

	statesMu sync.Mutex
	states   map[string][]State
	startedC map[string]chan struct{}
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:        t,
		rec:      &recorder{},
		byName:   make(map[string]*fakeUnit),
		logs:     &logLines{},
		sigs:     make(chan os.Signal),
		rules:    fault.Rules{},
		states:   make(map[string][]State),
		startedC: make(map[string]chan struct{}),
	}
	var units []Provider
	for _, n := range names {
		u := newUnit(n, h.rec)
		h.units = append(h.units, u)
		h.byName[n] = u
		h.startedC[n] = make(chan struct{})
		units = append(units, u)
	}
	h.runner = &Runner{
		Logger:    hclog.New(&hclog.LoggerOptions{Output: h.logs, Level: hclog.Trace, DisableTime: true, Color: hclog.ColorOff}),
		Providers: units,
		Mode:      sdk.ModeRefresh,
		OnState: func(name string, s State, err error) {
			h.statesMu.Lock()
			defer h.statesMu.Unlock()
			h.states[name] = append(h.states[name], s)
			if s == StateStarted {
				close(h.startedC[name])
			}
		},
	}
	return h
}

// signalFault makes the agent's fault point raise sig into the runner's
// signal channel and wait until the runner relayed the cancellation (which
// it does after cancelling its contexts), as the real agent's "signal"
// fault waits for the signal to be handled.
func (h *harness) signalFault(point string) {
	h.rules["agent:"+point] = fault.Action{Kind: fault.Signal}
}

func (h *harness) failFault(point, msg string) {
	h.rules["agent:"+point] = fault.Action{Kind: fault.Fail, Arg: msg}
}

func (h *harness) raise(sig syscall.Signal) (func(context.Context) error, error) {
	h.sigs <- sig
	return func(ctx context.Context) error { return h.units[0].awaitSignal(ctx, sig) }, nil
}

// signalAndWait sends sig as the OS would and waits until the runner has
// relayed it to u.
func (h *harness) signalAndWait(u *fakeUnit, sig os.Signal) {
	h.t.Helper()
	select {
	case h.sigs <- sig:
	case <-time.After(wait):
		h.t.Fatalf("the runner took no signal within %v", wait)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := u.awaitSignal(ctx, sig); err != nil {
		h.t.Error(err)
	}
}

// run runs the runner to its end, in the test's goroutine.
func (h *harness) run() int {
	h.runner.Faults = fault.NewPoints("agent", h.rules, h.raise)
	return h.runner.Run(h.sigs)
}

// runAsync runs the runner in a goroutine; the returned channel yields its
// exit code.
func (h *harness) runAsync() <-chan int {
	h.runner.Faults = fault.NewPoints("agent", h.rules, h.raise)
	done := make(chan int, 1)
	go func() { done <- h.runner.Run(h.sigs) }()
	return done
}

func (h *harness) awaitExit(done <-chan int) int {
	h.t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(wait):
		h.t.Fatalf("the runner did not finish within %v; calls so far: %v", wait, h.rec.Calls())
		return -1
	}
}

func (h *harness) awaitStarted(name string) {
	h.t.Helper()
	select {
	case <-h.startedC[name]:
	case <-time.After(wait):
		h.t.Fatalf("%s not started within %v", name, wait)
	}
}

func (h *harness) State(name string) []State {
	h.statesMu.Lock()
	defer h.statesMu.Unlock()
	return slices.Clone(h.states[name])
}

// calls returns the expected sequence: inits of the first nInit units,
// starts of the named units, then Shutdown of every unit in reverse order.
func calls(nInit int, started ...string) []string {
	var out []string
	for _, n := range names[:nInit] {
		out = append(out, "init "+n)
	}
	for _, n := range started {
		out = append(out, "start "+n)
	}
	for i := len(names) - 1; i >= 0; i-- {
		out = append(out, "shutdown "+names[i])
	}
	return out
}

// checkCalls compares the calls the runner made, kills aside, with want;
// then checks that every unit was killed exactly once, after its Shutdown.
func (h *harness) checkCalls(want []string) {
	h.t.Helper()
	all := h.rec.Calls()
	var got []string
	for i, c := range all {
		if name, ok := strings.CutPrefix(c, "kill "); ok {
			if !slices.Contains(all[:i], "shutdown "+name) {
				h.t.Errorf("%s killed before its Shutdown: %v", name, all)
			}
			continue
		}
		got = append(got, c)
	}
	if !slices.Equal(got, want) {
		h.t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	for _, n := range names {
		if k := countOf(all, "kill "+n); k != 1 {
			h.t.Errorf("%s killed %d times, want 1", n, k)
		}
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// checkLogs asserts that the lifecycle lines appear in this order (other
// lines may come between them).
func (h *harness) checkLogs(want ...string) {
	h.t.Helper()
	got := h.logs.Messages()
	i := 0
	for _, line := range got {
		if i < len(want) && line == want[i] {
			i++
		}
	}
	if i < len(want) {
		h.t.Errorf("log lacks %q (after %q) in order; log:\n%s", want[i], want[:i], strings.Join(got, "\n"))
	}
}

// checkNoLog asserts that no log line contains s.
func (h *harness) checkNoLog(s string) {
	h.t.Helper()
	for _, line := range h.logs.Messages() {
		if strings.Contains(line, s) {
			h.t.Errorf("unexpected log line %q", line)
		}
	}
}

// checkCancels asserts that every unit that is still alive heard exactly
// want, once.
func (h *harness) checkCancels(want Cancellation, except ...string) {
	h.t.Helper()
	for _, u := range h.units {
		if slices.Contains(except, u.name) {
			continue
		}
		got := u.Cancels()
		if len(got) != 1 {
			h.t.Errorf("%s heard %d cancellations, want 1: %+v", u.name, len(got), got)
			continue
		}
		c := got[0]
		if c.Init != want.Init || c.Run != want.Run || fmt.Sprint(c.Cause) != fmt.Sprint(want.Cause) || c.Signal != want.Signal {
			h.t.Errorf("%s heard %+v (cause %v), want %+v (cause %v)", u.name, c, c.Cause, want, want.Cause)
		}
	}
}

// shutdownLines is the log of the reverse shutdown of every unit.
func shutdownLines(cause string) []string {
	out := []string{"INFO Initiating shutdown by cause: " + cause + " ..."}
	for i := len(names) - 1; i >= 0; i-- {
		out = append(out, "INFO Initiating shutdown of "+names[i]+" ...", "INFO Stopped "+names[i])
	}
	return out
}

var sigint = Cancellation{Init: true, Run: true, Cause: errors.New("received signal: interrupt"), Signal: syscall.SIGINT}

// Case 100: a signal once every provider has started.
func TestSignalAfterAllStarted(t *testing.T) {
	h := newHarness(t)
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.signalAndWait(h.units[0], syscall.SIGINT)
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	h.checkCalls(calls(4, names...))
	h.checkCancels(sigint)
	h.checkLogs(append([]string{"INFO Received signal: interrupt"}, append(shutdownLines("received signal: interrupt"), "INFO Shutdown completed!")...)...)
	h.checkNoLog("Skipped")
	for _, n := range names {
		if got := h.State(n); !slices.Equal(got, []State{StateInitialized, StateStarted, StateStopped}) {
			t.Errorf("%s went through %v", n, got)
		}
	}
}

// Cases 101-104: a signal before provider N's Start skips it and every
// later one; every provider is still shut down, in reverse order.
func TestSignalBeforeStart(t *testing.T) {
	for n := range names {
		t.Run(fmt.Sprintf("case %d before %s", 101+n, names[n]), func(t *testing.T) {
			h := newHarness(t)
			h.signalFault("before " + names[n] + " start")
			if code := h.run(); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			h.checkCalls(calls(4, names[:n]...))
			h.checkCancels(sigint)
			want := []string{"INFO Received signal: interrupt"}
			for _, s := range names[n:] {
				want = append(want, "INFO Skipped "+s+" start")
			}
			want = append(want, shutdownLines("received signal: interrupt")...)
			h.checkLogs(append(want, "INFO Shutdown completed!")...)
			for i, name := range names {
				wantStates := []State{StateInitialized, StateStarted, StateStopped}
				if i >= n {
					wantStates = []State{StateInitialized, StateSkipped}
				}
				if got := h.State(name); !slices.Equal(got, wantStates) {
					t.Errorf("%s went through %v, want %v", name, got, wantStates)
				}
			}
		})
	}
}

// Cases 105-110: a signal while provider N's Start runs (before one of its
// goroutines) does not cut that Start short; the later ones are skipped.
func TestSignalDuringStart(t *testing.T) {
	for n := range names {
		t.Run("during "+names[n], func(t *testing.T) {
			h := newHarness(t)
			u := h.units[n]
			finished := false
			u.start = func(context.Context) error {
				h.signalAndWait(u, syscall.SIGINT)
				finished = true // the rest of Start's block still runs
				return nil
			}
			if code := h.run(); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if !finished {
				t.Errorf("Start of %s was cut short", names[n])
			}
			h.checkCalls(calls(4, names[:n+1]...))
			h.checkCancels(sigint)
			want := []string{"INFO Received signal: interrupt"}
			for _, s := range names[n+1:] {
				want = append(want, "INFO Skipped "+s+" start")
			}
			want = append(want, shutdownLines("received signal: interrupt")...)
			h.checkLogs(append(want, "INFO Shutdown completed!")...)
			if got := h.State(names[n]); !slices.Equal(got, []State{StateInitialized, StateStarted, StateStopped}) {
				t.Errorf("%s went through %v", names[n], got)
			}
		})
	}
}

// Cases 111-114: a Start error cancels the run with cause "start failed",
// skips the later providers, shuts everything down and exits 1.
func TestStartError(t *testing.T) {
	for n := range names {
		t.Run(fmt.Sprintf("case %d in %s", 111+n, names[n]), func(t *testing.T) {
			h := newHarness(t)
			h.units[n].start = func(context.Context) error { return errors.New("no luck") }
			if code := h.run(); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			h.checkCalls(calls(4, names[:n+1]...))
			h.checkCancels(Cancellation{Run: true, Cause: errors.New("start failed: no luck")})
			want := []string{"ERROR Error starting " + names[n] + ": no luck"}
			for _, s := range names[n+1:] {
				want = append(want, "INFO Skipped "+s+" start")
			}
			want = append(want, shutdownLines("start failed: no luck")...)
			h.checkLogs(append(want, "ERROR Start failed by cause: start failed: no luck")...)
			h.checkNoLog("Shutdown completed!")
			if got := h.State(names[n]); !slices.Equal(got, []State{StateInitialized, StateFailed}) {
				t.Errorf("%s went through %v", names[n], got)
			}
		})
	}
}

// A "fail" fault before a provider's Start counts as its Start failing,
// without calling it.
func TestStartFaultFail(t *testing.T) {
	h := newHarness(t)
	h.failFault("before metrics start", "injected")
	if code := h.run(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkCalls(calls(4, "certificate", "token"))
	h.checkCancels(Cancellation{Run: true, Cause: errors.New("start failed: injected")})
	h.checkLogs("ERROR Error starting metrics: injected", "INFO Skipped healthcheck start", "ERROR Start failed by cause: start failed: injected")
}

// Case 115: a Start error, then a signal during Shutdown: the signal is
// logged, changes nothing, and the exit code stays 1.
func TestSignalDuringShutdown(t *testing.T) {
	h := newHarness(t)
	h.units[2].start = func(context.Context) error { return errors.New("no luck") }
	tok := h.byName["token"]
	tok.shutdown = func(context.Context) error {
		h.signalAndWait(tok, syscall.SIGINT)
		return nil
	}
	if code := h.run(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkCalls(calls(4, "certificate", "token", "metrics"))
	h.checkLogs(
		"ERROR Error starting metrics: no luck",
		"INFO Skipped healthcheck start",
		"INFO Initiating shutdown by cause: start failed: no luck ...",
		"INFO Initiating shutdown of healthcheck ...",
		"INFO Initiating shutdown of metrics ...",
		"INFO Initiating shutdown of token ...",
		"INFO Received signal: interrupt",
		"INFO Shutdown is in progress; it runs to the end",
		"INFO Stopped token",
		"INFO Initiating shutdown of certificate ...",
		"INFO Stopped certificate",
		"ERROR Start failed by cause: start failed: no luck",
	)
	// Every unit hears the start failure first. The signal reaches token,
	// which waited for it; the others may be gone by the time the handler
	// relays it, since shutdown does not wait for it.
	for _, u := range h.units {
		got := u.Cancels()
		switch {
		case len(got) == 0 || len(got) > 2 || got[0].Cause.Error() != "start failed: no luck":
			t.Errorf("%s heard %+v", u.name, got)
		case len(got) == 2 && got[1].Signal != syscall.SIGINT:
			t.Errorf("%s heard %+v", u.name, got)
		case u.name == "token" && len(got) != 2:
			t.Errorf("token heard %+v, want the signal too", got)
		}
	}
}

// Two signals before the first start: the cause stays the first.
func TestSecondSignalKeepsTheFirstCause(t *testing.T) {
	h := newHarness(t)
	cert := h.units[0]
	cert.start = func(context.Context) error {
		h.signalAndWait(cert, syscall.SIGTERM)
		h.signalAndWait(cert, syscall.SIGINT)
		return nil
	}
	if code := h.run(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	h.checkLogs("INFO Received signal: terminated", "INFO Received signal: interrupt", "INFO Initiating shutdown by cause: received signal: terminated ...", "INFO Shutdown completed!")
}

// A signal during init skips the later inits and every start, and still
// shuts every provider down; it is not a failure.
func TestSignalDuringInit(t *testing.T) {
	for _, initErr := range []error{nil, context.Canceled} {
		t.Run(fmt.Sprintf("init returns %v", initErr), func(t *testing.T) {
			h := newHarness(t)
			tok := h.byName["token"]
			var initCtx context.Context
			tok.init = func(ctx context.Context) error {
				initCtx = ctx
				h.signalAndWait(tok, syscall.SIGINT)
				return initErr
			}
			if code := h.run(); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			if initCtx.Err() != nil {
				t.Errorf("the runner cancelled Init's own context; it must relay through Cancel instead")
			}
			h.checkCalls(calls(2))
			h.checkCancels(sigint)
			tokenLine := "INFO Received signal: interrupt"
			wantTokenStates := []State{StateInitialized, StateSkipped}
			if initErr != nil {
				tokenLine = "INFO Stopped token initiation: context canceled"
				wantTokenStates = []State{StateSkipped, StateSkipped}
			}
			want := []string{
				tokenLine,
				"INFO Skipped metrics initiation",
				"INFO Skipped healthcheck initiation",
				"INFO Skipped certificate start",
				"INFO Skipped token start",
				"INFO Skipped metrics start",
				"INFO Skipped healthcheck start",
			}
			want = append(want, shutdownLines("received signal: interrupt")...)
			h.checkLogs(append(want, "INFO Shutdown completed!")...)
			h.checkNoLog("ERROR")
			if got := h.State("token"); !slices.Equal(got, wantTokenStates) {
				t.Errorf("token went through %v, want %v", got, wantTokenStates)
			}
		})
	}
}

// An init failure skips the later inits and every start, shuts every
// provider down and exits 1.
func TestInitFailure(t *testing.T) {
	h := newHarness(t)
	h.byName["token"].init = func(context.Context) error { return errors.New("no identity") }
	if code := h.run(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkCalls(calls(2))
	h.checkCancels(Cancellation{Init: true, Run: true, Cause: errors.New("init failed: token: no identity")})
	want := []string{
		"ERROR Error initializing token: no identity",
		"INFO Skipped metrics initiation",
		"INFO Skipped healthcheck initiation",
		"INFO Skipped certificate start",
	}
	want = append(want, shutdownLines("init failed: token: no identity")...)
	h.checkLogs(append(want, "ERROR Init failed by cause: init failed: token: no identity")...)
	if got := h.State("token"); !slices.Equal(got, []State{StateFailed}) {
		t.Errorf("token went through %v", got)
	}
}

// A "fail" fault before a provider's init fails the init without calling
// it.
func TestInitFaultFail(t *testing.T) {
	h := newHarness(t)
	h.failFault("before metrics init", "injected")
	if code := h.run(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkCalls(calls(2))
	h.checkLogs("ERROR Error initializing metrics: injected", "INFO Skipped healthcheck initiation",
		"ERROR Init failed by cause: init failed: metrics: injected")
	h.checkNoLog("Skipped metrics initiation")
	if got := h.State("metrics"); !slices.Equal(got, []State{StateFailed}) {
		t.Errorf("metrics went through %v, want it failed, not skipped", got)
	}
}

// Init mode runs every init in order, starts nothing, shuts everything
// down and exits 0; an init failure exits 1; a signal exits 0.
func TestInitMode(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		h := newHarness(t)
		h.runner.Mode = sdk.ModeInit
		if code := h.run(); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		h.checkCalls(calls(4))
		for _, u := range h.units {
			if got := u.Cancels(); len(got) != 0 {
				t.Errorf("%s heard %+v", u.name, got)
			}
		}
		want := []string{"INFO Init completed!"}
		for i := len(names) - 1; i >= 0; i-- {
			want = append(want, "INFO Initiating shutdown of "+names[i]+" ...", "INFO Stopped "+names[i])
		}
		h.checkLogs(append(want, "INFO Shutdown completed!")...)
		h.checkNoLog("start")
	})
	t.Run("failure", func(t *testing.T) {
		h := newHarness(t)
		h.runner.Mode = sdk.ModeInit
		h.byName["metrics"].init = func(context.Context) error { return errors.New("denied") }
		if code := h.run(); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		h.checkCalls(calls(3))
		h.checkLogs("ERROR Error initializing metrics: denied", "INFO Skipped healthcheck initiation",
			"INFO Initiating shutdown by cause: init failed: metrics: denied ...", "ERROR Init failed by cause: init failed: metrics: denied")
	})
	t.Run("signal", func(t *testing.T) {
		h := newHarness(t)
		h.runner.Mode = sdk.ModeInit
		cert := h.units[0]
		cert.init = func(context.Context) error {
			h.signalAndWait(cert, syscall.SIGTERM)
			return nil
		}
		if code := h.run(); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		h.checkCalls(calls(1))
		h.checkLogs("INFO Received signal: terminated", "INFO Skipped token initiation",
			"INFO Initiating shutdown by cause: received signal: terminated ...", "INFO Shutdown completed!")
	})
}

// A provider's process that dies during the run cancels it with a cause
// naming the provider and its exit status; the rest are shut down (the dead
// one included) and the agent exits 1.
func TestProcessExitsDuringRun(t *testing.T) {
	h := newHarness(t)
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	tok := h.byName["token"]
	tok.exit(errors.New("exit status 3"))
	if code := h.awaitExit(done); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	cause := "provider token exited unexpectedly: exit status 3"
	all := h.rec.Calls()
	var got []string
	for _, c := range all {
		if !strings.HasPrefix(c, "kill ") {
			got = append(got, c)
		}
	}
	if want := calls(4, names...); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	if countOf(all, "kill token") != 0 {
		t.Errorf("the runner killed a process that was already gone")
	}
	h.checkCancels(Cancellation{Init: true, Run: true, Cause: errors.New(cause)}, "token")
	if got := tok.Cancels(); len(got) != 0 {
		t.Errorf("a dead process heard %+v", got)
	}
	h.checkLogs(append([]string{"ERROR " + cause}, append(shutdownLines(cause), "ERROR Run failed by cause: "+cause)...)...)
	if got := h.State("token"); !slices.Equal(got, []State{StateInitialized, StateStarted, StateExited, StateStopped}) {
		t.Errorf("token went through %v", got)
	}
}

// A process that exits without an error still cancels the run.
func TestProcessExitsCleanlyDuringRun(t *testing.T) {
	h := newHarness(t)
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.byName["metrics"].exit(nil)
	if code := h.awaitExit(done); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkLogs("ERROR provider metrics exited unexpectedly", "ERROR Run failed by cause: provider metrics exited unexpectedly")
}

// A Shutdown that overruns its timeout gets its process killed, and the
// next provider is still shut down.
func TestShutdownTimeout(t *testing.T) {
	h := newHarness(t)
	for _, u := range h.units {
		u.timeout = time.Hour
	}
	h.byName["token"].timeout = 20 * time.Millisecond
	var deadline time.Time
	h.byName["token"].shutdown = func(ctx context.Context) error {
		deadline, _ = ctx.Deadline()
		<-ctx.Done() // hangs until its timeout, like a stuck plugin
		return ctx.Err()
	}
	var certDeadline time.Time
	h.byName["certificate"].shutdown = func(ctx context.Context) error {
		certDeadline, _ = ctx.Deadline()
		return nil
	}
	h.byName["healthcheck"].start = func(context.Context) error {
		h.signalAndWait(h.units[3], syscall.SIGINT)
		return nil
	}
	start := time.Now()
	if code := h.run(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if deadline.IsZero() || deadline.Sub(start) > time.Minute {
		t.Errorf("token's Shutdown got deadline %v", deadline)
	}
	if d := time.Until(certDeadline); d < 50*time.Minute {
		t.Errorf("certificate's Shutdown got %v left, want its own timeout", d)
	}
	all := h.rec.Calls()
	want := []string{"shutdown healthcheck", "shutdown metrics", "shutdown token", "abort token", "shutdown certificate"}
	if i := slices.Index(all, "shutdown healthcheck"); i < 0 || !slices.Equal(all[i:i+5], want) {
		t.Errorf("calls %q, want the stuck token killed before certificate's Shutdown: %q", all, want)
	}
	h.checkLogs(
		"INFO Initiating shutdown of token ...",
		"ERROR Shutdown of token did not finish within 20ms; killing its process",
		"INFO Initiating shutdown of certificate ...",
		"INFO Stopped certificate",
		"INFO Shutdown completed!",
	)
	if got := h.State("token"); !slices.Equal(got, []State{StateInitialized, StateStarted, StateFailed}) {
		t.Errorf("token went through %v", got)
	}
}

// Every provider learns of the cancellation before it gets its Shutdown,
// though the runner wakes the moment runCtx is cancelled, while the signal
// is still being relayed.
func TestCancelReachesEveryProviderBeforeShutdown(t *testing.T) {
	h := newHarness(t)
	hc := h.byName["healthcheck"]
	shutdownCalled := make(chan struct{})
	hc.cancel = func(Cancellation) {
		// A slow relay: it ends when Shutdown comes (the bug) or after a
		// while (the runner waited, as it must).
		select {
		case <-shutdownCalled:
		case <-time.After(100 * time.Millisecond):
		}
	}
	var cancelledFirst bool
	hc.shutdown = func(context.Context) error {
		cancelledFirst = len(hc.Cancels()) == 1
		close(shutdownCalled)
		return nil
	}
	done := h.runAsync()
	h.awaitStarted("healthcheck")
	h.sigs <- syscall.SIGINT
	if code := h.awaitExit(done); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if !cancelledFirst {
		t.Errorf("healthcheck got its Shutdown before the cancellation of its run")
	}
}

// A Shutdown error is logged and the next provider is still shut down.
func TestShutdownError(t *testing.T) {
	h := newHarness(t)
	h.byName["metrics"].shutdown = func(context.Context) error { return errors.New("port stuck") }
	h.signalFault("before certificate start")
	if code := h.run(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	h.checkCalls(calls(4))
	h.checkLogs("INFO Initiating shutdown of metrics ...", "ERROR Error shutting down metrics: port stuck",
		"INFO Initiating shutdown of token ...", "INFO Stopped token", "INFO Shutdown completed!")
}

// The default shutdown timeout is a minute.
func TestDefaultShutdownTimeout(t *testing.T) {
	u := newUnit("x", &recorder{})
	if got := shutdownTimeout(u); got != time.Minute {
		t.Errorf("shutdownTimeout with 0 = %v", got)
	}
	u.timeout = time.Second
	if got := shutdownTimeout(u); got != time.Second {
		t.Errorf("shutdownTimeout = %v", got)
	}
}

func TestCauseErrors(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		err  error
		want string
	}{
		{&SignalError{Signal: syscall.SIGINT}, "received signal: interrupt"},
		{&SignalError{Signal: syscall.SIGTERM}, "received signal: terminated"},
		{&StartFailedError{Name: "token", Err: boom}, "start failed: boom"},
		{&InitFailedError{Name: "token", Err: boom}, "init failed: token: boom"},
		{&ExitError{Name: "token", Err: boom, Unexpected: true}, "provider token exited unexpectedly: boom"},
		{&ExitError{Name: "token", Unexpected: true}, "provider token exited unexpectedly"},
		{&ExitError{Name: "token", Err: boom}, "provider token exited: boom"},
		{&ExitError{Name: "token"}, "provider token exited"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%T.Error() = %q, want %q", c.err, got, c.want)
		}
	}
	if !errors.Is(&StartFailedError{Err: boom}, boom) || !errors.Is(&InitFailedError{Err: boom}, boom) {
		t.Errorf("causes do not unwrap")
	}
}

// Every Start the runner calls is logged before it runs and, when it
// succeeded, after; a skipped one is not, and a failed one ends with its
// error instead.
func TestStartIsLogged(t *testing.T) {
	h := newHarness(t)
	h.byName["metrics"].start = func(context.Context) error { return errors.New("no luck") }
	if code := h.run(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	h.checkLogs(
		"INFO Starting certificate", "INFO Started certificate",
		"INFO Starting token", "INFO Started token",
		"INFO Starting metrics", "ERROR Error starting metrics: no luck",
		"INFO Skipped healthcheck start",
	)
	h.checkNoLog("Started metrics")
	h.checkNoLog("Starting healthcheck")
}

// States and phases read, and marshal, as the words of the status report.
func TestStateAndPhaseWords(t *testing.T) {
	states := map[State]string{StateLoaded: "loaded", StateInitialized: "initialized", StateStarted: "started",
		StateSkipped: "skipped", StateFailed: "failed", StateStopped: "stopped", StateExited: "exited", State(99): "State(99)"}
	for s, want := range states {
		if b, _ := s.MarshalText(); s.String() != want || string(b) != want {
			t.Errorf("%d: %q, %q; want %q", uint8(s), s.String(), b, want)
		}
	}
	phases := map[Phase]string{PhaseLoading: "loading", PhaseInit: "init", PhaseStart: "start",
		PhaseRunning: "running", PhaseShutdown: "shutdown", Phase(0): "Phase(0)"}
	for p, want := range phases {
		if b, _ := p.MarshalText(); p.String() != want || string(b) != want {
			t.Errorf("%d: %q, %q; want %q", uint8(p), p.String(), b, want)
		}
	}
}
