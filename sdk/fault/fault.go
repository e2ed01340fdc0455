// Package fault implements fault points: named places in the agent and in
// providers where a test can make the process signal the agent, fail, crash
// or hang. Fault points are inert unless the SIA_FAULTS environment variable
// turns them on, so production code pays one map lookup for them.
//
// SIA_FAULTS is read only by binaries built with the siafaults build tag
// (go build -tags siafaults), as the end-to-end tests build them. Any
// other build ignores it (see Ignored): its fault points get no rules from
// the environment, and the code that crashes, hangs, waits or signals the
// agent is not compiled in. Points built from rules in code, as unit
// tests do, still fail and signal through the Raiser they are given.
//
// SIA_FAULTS holds ';'-separated rules of the form
//
//	<scope>:<point>=<action>
//
// where scope is a provider name (or "agent" for the agent itself), point is
// the fault point's name (e.g. "before token server goroutine", "start",
// "shutdown") and action is one of
//
//	signal[:INT|TERM]  send the signal to the agent and wait until it was handled
//	fail[:message]     make the fault point return an error
//	crash[:code]       exit the process at once with code (default 3)
//	hang               block until the process is killed
//	wait:path          block until the FIFO at path is opened for writing
//
// A provider hits its fault points with sdk.Runtime.Fault, and gets
// "start", "shutdown" and "before <name> goroutine" from the SDK. The rest
// of this package is how the SDK and the agent carry them out (Points,
// Signals), and how an in-process test makes them (Parse, NewPoints).
package fault

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is the environment variable that holds the fault rules.
const Env = "SIA_FAULTS"

// Tag is the build tag that compiles fault points in: only a binary built
// with it (go build -tags siafaults) reads Env.
const Tag = "siafaults"

// Kind is what a fault point does when it is hit.
type Kind string

// The actions a rule can name.
const (
	Signal Kind = "signal"
	Fail   Kind = "fail"
	Crash  Kind = "crash"
	Hang   Kind = "hang"
	Wait   Kind = "wait"
)

// Action is a parsed rule's right-hand side.
type Action struct {
	Kind Kind   // what the point does
	Arg  string // what follows the kind's colon: the message, signal, code or FIFO; may be empty
}

// Rules maps "<scope>:<point>" to its action.
type Rules map[string]Action

// Parse parses a SIA_FAULTS value.
func Parse(spec string) (Rules, error) {
	rules := make(Rules)
	for _, rule := range strings.Split(spec, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		key, action, ok := strings.Cut(rule, "=")
		scope, point, hasScope := strings.Cut(key, ":")
		if !ok || !hasScope || strings.TrimSpace(scope) == "" || strings.TrimSpace(point) == "" {
			return nil, fmt.Errorf("fault rule %q: want <scope>:<point>=<action>", rule)
		}
		kind, arg, _ := strings.Cut(strings.TrimSpace(action), ":")
		a := Action{Kind: Kind(kind), Arg: arg}
		switch a.Kind {
		case Signal:
			if _, err := a.signal(); err != nil {
				return nil, fmt.Errorf("fault rule %q: %w", rule, err)
			}
		case Crash:
			if arg != "" {
				if _, err := strconv.Atoi(arg); err != nil {
					return nil, fmt.Errorf("fault rule %q: crash code %q is not a number", rule, arg)
				}
			}
		case Wait:
			if arg == "" {
				return nil, fmt.Errorf("fault rule %q: wait needs the path of a FIFO (wait:/path/to/fifo)", rule)
			}
		case Fail, Hang:
		default:
			return nil, fmt.Errorf("fault rule %q: unknown action %q (want signal, fail, crash, hang or wait)", rule, kind)
		}
		rules[strings.TrimSpace(scope)+":"+strings.TrimSpace(point)] = a
	}
	return rules, nil
}

func (a Action) signal() (syscall.Signal, error) {
	switch a.Arg {
	case "", "INT", "SIGINT":
		return syscall.SIGINT, nil
	case "TERM", "SIGTERM":
		return syscall.SIGTERM, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want INT or TERM)", a.Arg)
}

// Points are the fault points of one scope. A nil *Points is inert.
type Points struct {
	scope string
	rules Rules
	raise Raiser
}

// Raiser sends sig to the agent and returns a function that waits until the
// agent has handled it.
type Raiser func(sig syscall.Signal) (handled func(context.Context) error, err error)

// HandledTimeout bounds how long a "signal" fault waits for the agent.
const HandledTimeout = 10 * time.Second

// NewPoints returns the fault points of scope, or nil when no rule names
// the scope.
func NewPoints(scope string, rules Rules, raise Raiser) *Points {
	for key := range rules {
		if strings.HasPrefix(key, scope+":") {
			return &Points{scope: scope, rules: rules, raise: raise}
		}
	}
	return nil
}

// Hit runs the action of the named fault point, if a rule names it. It
// returns an error only for a "fail" action, or when a "signal" action
// could not be carried out.
func (p *Points) Hit(ctx context.Context, point string) error {
	if p == nil {
		return nil
	}
	a, ok := p.rules[p.scope+":"+point]
	if !ok {
		return nil
	}
	switch a.Kind {
	case Fail:
		if a.Arg != "" {
			return errors.New(a.Arg)
		}
		return fmt.Errorf("fault injected at %q", point)
	case Crash, Hang, Wait:
		return act(point, a)
	case Signal:
		sig, _ := a.signal()
		handled, err := p.raise(sig)
		if err != nil {
			return fmt.Errorf("fault %q: sending %v: %w", point, sig, err)
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), HandledTimeout)
		defer cancel()
		if err := handled(ctx); err != nil {
			return fmt.Errorf("fault %q: waiting for the agent to handle %v: %w", point, sig, err)
		}
	}
	return nil
}

// Signals counts the signals the agent has handled, so that a "signal"
// fault point can wait for the one it raised.
type Signals struct {
	mu   sync.Mutex
	n    int
	next chan struct{}
}

func (s *Signals) snapshot() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == nil {
		s.next = make(chan struct{})
	}
	return s.n, s.next
}

// Handled records that the agent handled a signal.
func (s *Signals) Handled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.next != nil {
		close(s.next)
	}
	s.next = make(chan struct{})
}

// waitHandled returns a function that waits until s has recorded a
// handled signal after the seen-th.
func (s *Signals) waitHandled(seen int) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			n, next := s.snapshot()
			if n > seen {
				return nil
			}
			select {
			case <-next:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
