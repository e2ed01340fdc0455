package sdk

import (
	"context"
	"errors"
	"sync"

	"github.com/sia-agent/sia-agent/sdk/fault"
)

// ErrStopped is the cause of the contexts of a Group's goroutines once
// Stop was called.
var ErrStopped = errors.New("the provider's goroutines are stopping")

// Group owns a provider's goroutines: the lifecycle's shutdownChan and
// shutdownWg. Start creates goroutines with GoContext (or Go); Shutdown
// calls Stop, which notifies every goroutine and waits until all have
// returned.
//
// A goroutine learns of Stop from its context (GoContext) or its stop
// channel (Go), which Stop cancels and closes together. Neither is
// cancelled with the run context: when the agent cancels the run (a
// signal, another provider's failed Start), a server goroutine keeps
// serving until its provider's Shutdown; work that must not begin after
// the cancellation checks the run context, as RefreshLoop does.
//
// The zero Group is ready to use.
type Group struct {
	// Faults, when set, gives every goroutine a fault point named
	// "before <name> goroutine".
	Faults *fault.Points

	once sync.Once
	stop chan struct{} // closed by Stop
	wg   sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	next    uint64                             // the next goroutine's key in cancels
	cancels map[uint64]context.CancelCauseFunc // of the running goroutines' contexts
}

// NewGroup returns a Group with the fault points of rt.
func NewGroup(rt *Runtime) *Group {
	g := &Group{}
	if rt != nil {
		g.Faults = rt.Faults
	}
	return g
}

func (g *Group) init() { g.once.Do(func() { g.stop = make(chan struct{}) }) }

// GoContext runs fn in a new goroutine. fn's context carries ctx's values
// but not its cancellation: Stop cancels it, with ErrStopped as its cause,
// and fn must return soon after. The fault point "before <name>
// goroutine" runs first; if it fails, the goroutine is not created and
// its error is returned.
func (g *Group) GoContext(ctx context.Context, name string, fn func(ctx context.Context)) error {
	g.init()
	if err := g.Faults.Hit(ctx, "before "+name+" goroutine"); err != nil {
		return err
	}
	gctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	key := g.track(cancel)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.untrack(key)
		fn(gctx)
	}()
	return nil
}

// track keeps cancel for Stop, or calls it at once once Stop was called,
// and returns its key for untrack.
func (g *Group) track(cancel context.CancelCauseFunc) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next++
	if g.stopped {
		cancel(ErrStopped)
		return 0
	}
	if g.cancels == nil {
		g.cancels = make(map[uint64]context.CancelCauseFunc)
	}
	g.cancels[g.next] = cancel
	return g.next
}

// untrack releases the context of a goroutine that returned.
func (g *Group) untrack(key uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cancel, ok := g.cancels[key]; ok {
		cancel(nil)
		delete(g.cancels, key)
	}
}

// Go runs fn in a new goroutine, as GoContext does, and hands it the
// channel that Stop closes instead of a context: fn must return soon
// after stop is closed.
func (g *Group) Go(ctx context.Context, name string, fn func(stop <-chan struct{})) error {
	g.init()
	return g.GoContext(ctx, name, func(context.Context) { fn(g.stop) })
}

// Stopping returns the channel that Stop closes.
func (g *Group) Stopping() <-chan struct{} {
	g.init()
	return g.stop
}

// Stop notifies every goroutine (cancels its context, closes its stop
// channel) and waits until all have returned. It may be called more than
// once, and before any GoContext or Go; a goroutine created after it gets
// a context already cancelled.
func (g *Group) Stop() {
	g.init()
	g.mu.Lock()
	if !g.stopped {
		g.stopped = true
		close(g.stop)
		for _, cancel := range g.cancels {
			cancel(ErrStopped)
		}
		g.cancels = nil
	}
	g.mu.Unlock()
	g.wg.Wait()
}
