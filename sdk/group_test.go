package sdk

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sia-agent/sia-agent/sdk/fault"
)

// deadline bounds every wait on a channel in these tests.
const deadline = 10 * time.Second

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestGroupStopNotifiesAndWaitsForAll(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var g Group
	const n = 5
	var stopped atomic.Int32
	running := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		err := g.Go(context.Background(), "worker", func(stop <-chan struct{}) {
			running <- struct{}{}
			<-stop
			stopped.Add(1)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		await(t, running, "goroutines to run")
	}
	select {
	case <-g.Stopping():
		t.Fatal("Stopping closed before Stop")
	default:
	}
	g.Stop()
	if got := stopped.Load(); got != n {
		t.Errorf("Stop returned with %d of %d goroutines stopped", got, n)
	}
	select {
	case <-g.Stopping():
	default:
		t.Error("Stopping not closed after Stop")
	}
}

func TestGroupStopBeforeGo(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var g Group // zero value, never used: Shutdown without Start
	g.Stop()
	g.Stop()
	select {
	case <-g.Stopping():
	default:
		t.Error("Stopping not closed")
	}
}

func TestGroupStopIsIdempotentAndConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g := NewGroup(nil)
	release := make(chan struct{})
	var done atomic.Bool
	if err := g.Go(context.Background(), "slow", func(stop <-chan struct{}) {
		<-stop
		<-release // hold Stop until the test lets go
		done.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	returned := make(chan bool, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Stop()
			returned <- done.Load()
		}()
	}
	<-g.Stopping() // the first Stop closed it
	select {
	case <-returned:
		t.Fatal("a Stop returned while a goroutine was still running")
	default:
	}
	close(release)
	wg.Wait()
	close(returned)
	for ok := range returned {
		if !ok {
			t.Error("a Stop returned before the goroutine finished")
		}
	}
}

func TestGroupStoppingIsTheChannelGoroutinesGet(t *testing.T) {
	var g Group
	got := make(chan (<-chan struct{}), 1)
	if err := g.Go(context.Background(), "w", func(stop <-chan struct{}) { got <- stop; <-stop }); err != nil {
		t.Fatal(err)
	}
	if await(t, got, "the goroutine") != g.Stopping() {
		t.Error("the goroutine's stop channel is not Stopping()")
	}
	g.Stop()
}

func TestGroupFaultFailCreatesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rules := fault.Rules{"token:before server goroutine": {Kind: fault.Fail, Arg: "no server today"}}
	g := NewGroup(&Runtime{Faults: fault.NewPoints("token", rules, nil)})
	var ran atomic.Bool
	err := g.Go(context.Background(), "server", func(<-chan struct{}) { ran.Store(true) })
	if err == nil || err.Error() != "no server today" {
		t.Fatalf("Go = %v, want the fault's error", err)
	}
	// Another point of the same scope is inert.
	started := make(chan struct{})
	if err := g.Go(context.Background(), "refresh", func(stop <-chan struct{}) { close(started); <-stop }); err != nil {
		t.Fatalf("Go(refresh) = %v", err)
	}
	await(t, started, "the refresh goroutine")
	g.Stop()
	if ran.Load() {
		t.Error("the goroutine ran although its fault point failed")
	}
}

func TestGroupFaultSignalRaisesThenCreatesTheGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	raised := make(chan syscall.Signal, 1)
	handled := make(chan struct{})
	raise := func(sig syscall.Signal) (func(context.Context) error, error) {
		raised <- sig
		return func(ctx context.Context) error {
			select {
			case <-handled:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil
	}
	rules := fault.Rules{"cert:before refresh goroutine": {Kind: fault.Signal, Arg: "TERM"}}
	g := NewGroup(&Runtime{Faults: fault.NewPoints("cert", rules, raise)})

	goErr := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		goErr <- g.Go(context.Background(), "refresh", func(stop <-chan struct{}) { close(started); <-stop })
	}()
	if sig := await(t, raised, "the signal"); sig != syscall.SIGTERM {
		t.Errorf("raised %v, want SIGTERM", sig)
	}
	select {
	case <-started:
		t.Fatal("the goroutine started before the agent handled the signal")
	case err := <-goErr:
		t.Fatalf("Go returned (%v) before the agent handled the signal", err)
	default:
	}
	close(handled)
	if err := await(t, goErr, "Go"); err != nil {
		t.Fatalf("Go = %v", err)
	}
	await(t, started, "the goroutine") // case 105: the goroutine is still created
	g.Stop()
}

func TestGroupFaultSignalFailsWhenTheAgentNeverHandlesIt(t *testing.T) {
	raise := func(syscall.Signal) (func(context.Context) error, error) {
		return nil, errors.New("no such process")
	}
	rules := fault.Rules{"cert:before refresh goroutine": {Kind: fault.Signal}}
	g := NewGroup(&Runtime{Faults: fault.NewPoints("cert", rules, raise)})
	err := g.Go(context.Background(), "refresh", func(<-chan struct{}) { t.Error("goroutine created") })
	if err == nil || err.Error() != `fault "before refresh goroutine": sending interrupt: no such process` {
		t.Errorf("Go = %v", err)
	}
	g.Stop()
}

// A goroutine of GoContext gets a context that Stop cancels, with
// ErrStopped as its cause, and that nothing else cancels: the run
// context's cancellation (a signal) leaves it running until Shutdown. It
// keeps the run context's values.
func TestGroupGoContextIsCancelledByStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	type key struct{}
	run, cancelRun := context.WithCancelCause(context.WithValue(context.Background(), key{}, "run"))
	g := NewGroup(nil)
	got := make(chan context.Context, 1)
	var returned atomic.Bool
	if err := g.GoContext(run, "worker", func(ctx context.Context) {
		got <- ctx
		<-ctx.Done()
		returned.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	ctx := await(t, got, "the goroutine")
	if ctx.Value(key{}) != "run" {
		t.Error("the goroutine's context lost the run context's values")
	}
	cancelRun(errors.New("received signal: interrupt"))
	select {
	case <-ctx.Done():
		t.Fatal("the run context's cancellation cancelled the goroutine's context")
	default:
	}
	g.Stop()
	if !returned.Load() {
		t.Error("Stop returned before the goroutine did")
	}
	if !errors.Is(context.Cause(ctx), ErrStopped) || !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("after Stop: Err %v, Cause %v; want context.Canceled, ErrStopped", ctx.Err(), context.Cause(ctx))
	}
}

// GoContext has the fault point Go has, and after Stop it hands a context
// that is done already.
func TestGroupGoContextFaultAndLateStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rules, err := fault.Parse("p:before worker goroutine=fail:no worker")
	if err != nil {
		t.Fatal(err)
	}
	g := &Group{Faults: fault.NewPoints("p", rules, nil)}
	if err := g.GoContext(context.Background(), "worker", func(context.Context) { t.Error("the goroutine ran") }); err == nil || err.Error() != "no worker" {
		t.Errorf("GoContext past a failing fault point: %v", err)
	}
	g.Stop()
	done := make(chan error, 1)
	if err := g.GoContext(context.Background(), "late", func(ctx context.Context) { <-ctx.Done(); done <- context.Cause(ctx) }); err != nil {
		t.Fatal(err)
	}
	if cause := await(t, done, "the late goroutine"); !errors.Is(cause, ErrStopped) {
		t.Errorf("late goroutine's cause %v, want ErrStopped", cause)
	}
	g.Stop()
}
