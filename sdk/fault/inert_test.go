//go:build !siafaults

package fault

import (
	"context"
	"syscall"
	"testing"
)

// Without the siafaults build tag, SIA_FAULTS does nothing: no rules come
// from it, so the points of the agent and of every provider are nil and
// inert, and the actions that crash, hang, wait or signal are not in the
// binary at all.
func TestWithoutTheTagFaultPointsAreInert(t *testing.T) {
	if Enabled {
		t.Fatal("Enabled without the siafaults tag")
	}
	t.Setenv(Env, "agent:start=crash;agent:shutdown=hang;token:start=fail;cert:x=wait:/nowhere;agent:y=signal")
	rules, err := FromEnv()
	if err != nil || len(rules) != 0 {
		t.Fatalf("FromEnv = %v, %v; want no rules", rules, err)
	}
	if !Ignored() {
		t.Error("Ignored() = false with SIA_FAULTS set")
	}
	var s Signals
	for _, scope := range []string{"agent", "token", "cert"} {
		p := NewPoints(scope, rules, s.Raiser(syscall.Getpid))
		if p != nil {
			t.Errorf("%s: points %+v, want none", scope, p)
		}
		for _, point := range []string{"start", "shutdown", "x", "y"} {
			if err := p.Hit(context.Background(), point); err != nil {
				t.Errorf("%s:%s: %v", scope, point, err)
			}
		}
	}

	t.Setenv(Env, "")
	if Ignored() {
		t.Error("Ignored() = true with SIA_FAULTS empty")
	}
}

// A test that builds rules itself still gets a fail, and a signal through
// its own raiser; the actions compiled out say so instead of acting, and
// the agent's raiser sends nothing.
func TestWithoutTheTagOnlyInjectedRulesAct(t *testing.T) {
	rules := Rules{"p:crash": {Kind: Crash}, "p:hang": {Kind: Hang}, "p:wait": {Kind: Wait, Arg: "/nowhere"}, "p:fail": {Kind: Fail}}
	p := NewPoints("p", rules, nil)
	for _, point := range []string{"crash", "hang", "wait"} {
		if err := p.Hit(context.Background(), point); err == nil {
			t.Errorf("%s: no error", point)
		}
	}
	if err := p.Hit(context.Background(), "fail"); err == nil {
		t.Error("fail: no error")
	}
	var s Signals
	if _, err := s.Raiser(func() int { t.Error("the raiser looked for a process"); return 0 })(syscall.SIGTERM); err == nil {
		t.Error("the agent's raiser sent a signal")
	}
}
