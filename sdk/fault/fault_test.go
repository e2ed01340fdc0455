package fault

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

const deadline = 10 * time.Second

func TestParse(t *testing.T) {
	rules, err := Parse(" agent:before token start = signal ; token:before server goroutine=signal:TERM;;" +
		"cert:start=fail:zts: 503 upstream;cert:shutdown=fail;metrics:start=crash:7;health:start=crash;" +
		"token:shutdown=hang;token:start=wait:/run/fifo;a:b=signal:SIGTERM;a:c=signal:INT;a:d=signal:SIGINT;")
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{
		"agent:before token start":      {Kind: Signal},
		"token:before server goroutine": {Kind: Signal, Arg: "TERM"},
		"cert:start":                    {Kind: Fail, Arg: "zts: 503 upstream"},
		"cert:shutdown":                 {Kind: Fail},
		"metrics:start":                 {Kind: Crash, Arg: "7"},
		"health:start":                  {Kind: Crash},
		"token:shutdown":                {Kind: Hang},
		"token:start":                   {Kind: Wait, Arg: "/run/fifo"},
		"a:b":                           {Kind: Signal, Arg: "SIGTERM"},
		"a:c":                           {Kind: Signal, Arg: "INT"},
		"a:d":                           {Kind: Signal, Arg: "SIGINT"},
	}
	if len(rules) != len(want) {
		t.Errorf("got %d rules, want %d: %v", len(rules), len(want), rules)
	}
	for k, w := range want {
		if rules[k] != w {
			t.Errorf("rule %q = %+v, want %+v", k, rules[k], w)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, spec := range []string{"", " ", ";", " ; ; "} {
		rules, err := Parse(spec)
		if err != nil || len(rules) != 0 {
			t.Errorf("Parse(%q) = %v, %v", spec, rules, err)
		}
	}
}

func TestParseLaterRuleWins(t *testing.T) {
	rules, err := Parse("a:b=fail:first;a:b=fail:second")
	if err != nil || rules["a:b"].Arg != "second" {
		t.Errorf("Parse = %v, %v", rules, err)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]string{
		"agent:start":             `fault rule "agent:start": want <scope>:<point>=<action>`,
		"start=fail":              `fault rule "start=fail": want <scope>:<point>=<action>`,
		":start=fail":             "want <scope>:<point>=<action>",
		"agent:=fail":             "want <scope>:<point>=<action>",
		" :x=fail":                "want <scope>:<point>=<action>",
		"agent:start=explode":     `fault rule "agent:start=explode": unknown action "explode" (want signal, fail, crash, hang or wait)`,
		"agent:start=wait":        `fault rule "agent:start=wait": wait needs the path of a FIFO (wait:/path/to/fifo)`,
		"agent:start=":            `unknown action ""`,
		"agent:start=signal:HUP":  `fault rule "agent:start=signal:HUP": unknown signal "HUP" (want INT or TERM)`,
		"agent:start=crash:three": `fault rule "agent:start=crash:three": crash code "three" is not a number`,
		"a:b=fail;agent:x=boom":   `unknown action "boom"`,
	}
	for spec, want := range cases {
		rules, err := Parse(spec)
		if err == nil || !strings.Contains(err.Error(), want) || rules != nil {
			t.Errorf("Parse(%q) = %v, %v; want error containing %q", spec, rules, err, want)
		}
	}
}

func TestNewPoints(t *testing.T) {
	rules := Rules{"token:start": {Kind: Fail}, "agent2:x": {Kind: Fail}}
	if p := NewPoints("cert", rules, nil); p != nil {
		t.Errorf("NewPoints(cert) = %+v, want nil: no rule names cert", p)
	}
	if p := NewPoints("agent", rules, nil); p != nil {
		t.Errorf("NewPoints(agent) = %+v, want nil: agent2 is another scope", p)
	}
	if p := NewPoints("token", nil, nil); p != nil {
		t.Errorf("NewPoints with no rules = %+v", p)
	}
	if p := NewPoints("token", rules, nil); p == nil {
		t.Error("NewPoints(token) = nil")
	}
}

func TestNilPointsAreInert(t *testing.T) {
	var p *Points
	if err := p.Hit(context.Background(), "anything"); err != nil {
		t.Errorf("nil Points: %v", err)
	}
}

func TestHitFail(t *testing.T) {
	p := NewPoints("cert", Rules{"cert:start": {Kind: Fail}, "cert:shutdown": {Kind: Fail, Arg: "disk full"}}, nil)
	if err := p.Hit(context.Background(), "start"); err == nil || err.Error() != `fault injected at "start"` {
		t.Errorf("Hit(start) = %v", err)
	}
	if err := p.Hit(context.Background(), "shutdown"); err == nil || err.Error() != "disk full" {
		t.Errorf("Hit(shutdown) = %v", err)
	}
	if err := p.Hit(context.Background(), "init"); err != nil {
		t.Errorf("a point without a rule: %v", err)
	}
	// The scope is part of the name: another scope's rule does not apply.
	other := NewPoints("token", Rules{"token:x": {Kind: Fail}, "cert:start": {Kind: Fail}}, nil)
	if err := other.Hit(context.Background(), "start"); err != nil {
		t.Errorf("token hit cert's rule: %v", err)
	}
}

// fakeRaiser records the signals raised; each one counts as handled once
// the test sends on handled.
type fakeRaiser struct {
	raised  chan syscall.Signal
	handled chan error
	ctxs    chan context.Context
}

func newFakeRaiser() *fakeRaiser {
	return &fakeRaiser{raised: make(chan syscall.Signal, 1), handled: make(chan error), ctxs: make(chan context.Context, 1)}
}

func (f *fakeRaiser) raise(sig syscall.Signal) (func(context.Context) error, error) {
	f.raised <- sig
	return func(ctx context.Context) error {
		f.ctxs <- ctx
		select {
		case err := <-f.handled:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil
}

func TestHitSignalWaitsUntilHandled(t *testing.T) {
	for spec, want := range map[string]syscall.Signal{"": syscall.SIGINT, "TERM": syscall.SIGTERM} {
		f := newFakeRaiser()
		p := NewPoints("agent", Rules{"agent:before token start": {Kind: Signal, Arg: spec}}, f.raise)
		// The caller's context is already cancelled: the wait must not be.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- p.Hit(ctx, "before token start") }()

		if sig := recv(t, f.raised); sig != want {
			t.Errorf("raised %v, want %v", sig, want)
		}
		waitCtx := recv(t, f.ctxs)
		if waitCtx.Err() != nil {
			t.Errorf("the wait for the agent inherited the caller's cancellation")
		}
		if d, ok := waitCtx.Deadline(); !ok || time.Until(d) > HandledTimeout || time.Until(d) < HandledTimeout/2 {
			t.Errorf("the wait has deadline %v (ok %v), want about %v", d, ok, HandledTimeout)
		}
		select {
		case err := <-done:
			t.Fatalf("Hit returned %v before the signal was handled", err)
		default:
		}
		f.handled <- nil
		if err := recv(t, done); err != nil {
			t.Errorf("Hit = %v", err)
		}
	}
}

func TestHitSignalErrors(t *testing.T) {
	rules := Rules{"agent:p": {Kind: Signal, Arg: "TERM"}}
	p := NewPoints("agent", rules, func(syscall.Signal) (func(context.Context) error, error) {
		return nil, syscall.ESRCH
	})
	if err := p.Hit(context.Background(), "p"); err == nil || err.Error() != `fault "p": sending terminated: no such process` {
		t.Errorf("Hit with a failing raise = %v", err)
	}

	f := newFakeRaiser()
	p = NewPoints("agent", rules, f.raise)
	done := make(chan error, 1)
	go func() { done <- p.Hit(context.Background(), "p") }()
	recv(t, f.raised)
	recv(t, f.ctxs)
	f.handled <- context.DeadlineExceeded
	if err := recv(t, done); err == nil || err.Error() != `fault "p": waiting for the agent to handle terminated: context deadline exceeded` {
		t.Errorf("Hit with an unhandled signal = %v", err)
	}
}

func TestSignalsSnapshotAndHandled(t *testing.T) {
	var s Signals
	n, next := s.snapshot()
	if n != 0 {
		t.Errorf("n = %d", n)
	}
	n2, next2 := s.snapshot()
	if n2 != 0 || next2 != next {
		t.Error("a snapshot without Handled in between changed")
	}
	s.Handled()
	select {
	case <-next:
	default:
		t.Error("Handled did not close the channel of the earlier snapshot")
	}
	n, next = s.snapshot()
	if n != 1 {
		t.Errorf("n = %d after one Handled", n)
	}
	select {
	case <-next:
		t.Error("the new snapshot's channel is already closed")
	default:
	}
	s.Handled()
	s.Handled()
	if n, _ := s.snapshot(); n != 3 {
		t.Errorf("n = %d after three", n)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		t.Fatalf("timed out after %v", deadline)
		var zero T
		return zero
	}
}
