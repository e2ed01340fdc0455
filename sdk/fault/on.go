//go:build siafaults

package fault

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Enabled reports whether this build reads SIA_FAULTS: it has the
// siafaults build tag.
const Enabled = true

// FromEnv parses the rules in SIA_FAULTS.
func FromEnv() (Rules, error) { return Parse(os.Getenv(Env)) }

// Ignored reports whether SIA_FAULTS is set but has no effect: never, in
// a build with fault points.
func Ignored() bool { return false }

// act carries out the actions that stop the process at a fault point.
func act(point string, a Action) error {
	switch a.Kind {
	case Crash:
		code := 3
		if a.Arg != "" {
			code, _ = strconv.Atoi(a.Arg)
		}
		os.Exit(code)
	case Hang:
		select {}
	case Wait:
		// Opening a FIFO for reading blocks until a writer opens it: the
		// test decides, by an event, when the process goes on.
		f, err := os.OpenFile(a.Arg, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("fault %q: waiting on %s: %w", point, a.Arg, err)
		}
		_ = f.Close() // opened only to wait for the writer
	}
	return nil
}

// Raiser returns a Raiser that sends signals to the process pid() names and
// waits until s records that the signal was handled.
func (s *Signals) Raiser(pid func() int) Raiser {
	return func(sig syscall.Signal) (func(context.Context) error, error) {
		seen, _ := s.snapshot()
		if err := syscall.Kill(pid(), sig); err != nil {
			return nil, err
		}
		return s.waitHandled(seen), nil
	}
}
