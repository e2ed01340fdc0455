//go:build !siafaults

package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Enabled reports whether this build reads SIA_FAULTS: it has the
// siafaults build tag.
const Enabled = false

// FromEnv returns no rules: this build has no fault points, whatever
// SIA_FAULTS says.
func FromEnv() (Rules, error) { return nil, nil }

// Ignored reports whether SIA_FAULTS is set, to no effect in this build:
// worth a warning at start.
func Ignored() bool { return os.Getenv(Env) != "" }

// act refuses the actions that stop the process: they are not compiled
// into this build.
func act(point string, a Action) error {
	return fmt.Errorf("fault %q: %s needs a build with -tags siafaults", point, a.Kind)
}

// Raiser returns a Raiser that sends nothing: no fault point of this build
// signals the agent.
func (s *Signals) Raiser(pid func() int) Raiser {
	return func(syscall.Signal) (func(context.Context) error, error) {
		return nil, errors.New("fault points are not compiled in (build with -tags siafaults)")
	}
}
