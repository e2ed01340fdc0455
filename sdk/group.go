package sdk

import (
	"context"
	"sync"

	"github.com/sia-agent/sia-agent/sdk/fault"
)

// Group owns a provider's goroutines: the specification's shutdownChan and
// shutdownWg. Start creates goroutines with Go; Shutdown calls Stop, which
// notifies every goroutine and waits until all have returned.
//
// The zero Group is ready to use.
type Group struct {
	// Faults, when set, gives every goroutine a fault point named
	// "before <name> goroutine".
	Faults *fault.Points

	once     sync.Once
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
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

// Go runs fn in a new goroutine. fn must return soon after stop is closed.
// The fault point "before <name> goroutine" runs first; if it fails, the
// goroutine is not created and its error is returned.
func (g *Group) Go(ctx context.Context, name string, fn func(stop <-chan struct{})) error {
	g.init()
	if err := g.Faults.Hit(ctx, "before "+name+" goroutine"); err != nil {
		return err
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.stop)
	}()
	return nil
}

// Stopping returns the channel that Stop closes.
func (g *Group) Stopping() <-chan struct{} {
	g.init()
	return g.stop
}

// Stop notifies every goroutine and waits until all have returned. It may
// be called more than once, and before any Go.
func (g *Group) Stop() {
	g.init()
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}
