package token

import (
	"errors"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/tlsfiles"
	"github.com/sia-agent/sia-agent/sdk"
)

func testPolicy(rnd float64) *backoffPolicy {
	p := newBackoffPolicy(DefaultConfig().Refresh, 5*time.Second)
	p.rnd = func() float64 { return rnd }
	return p
}

// A refresh the circuit held is tried again just after the circuit's next
// probe, and one that waits for the identity a second later; neither
// counts as a retry, so neither ends the retries.
func TestHeldRefreshesWaitForTheProbe(t *testing.T) {
	now := time.Now()
	p := testPolicy(0.5)
	e := &entry{key: Key{Kind: roleToken, Domain: "sia.demo", Roles: "reader"}, attempting: true}
	s := e.failed(&sdk.CircuitOpenError{Endpoint: "zts", RetryIn: 42 * time.Second, Status: 503}, now, p, false)
	if want := now.Add(42*time.Second + heldSpread/2); !s.at.Equal(want) || !s.held || s.over || e.retries != 0 {
		t.Errorf("held by the circuit: %+v, retries %d; want a retry at %v", s, e.retries, want.Sub(now))
	}
	e.attempting = true
	s = e.failed(&tlsfiles.NoIdentityError{Err: errors.New("no such file")}, now, p, false)
	if want := now.Add(identityPoll); !s.at.Equal(want) || !s.held || e.retries != 0 {
		t.Errorf("no identity: %+v; want a retry at %v", s, want.Sub(now))
	}
}

// A refresh that fails while the token still has 20 minutes to go is
// retried between 4 and 19 minutes later, not at the backoff's pace: a
// fleet that failed together catches up over its slack.
func TestFailedRefreshSpreadsOverSlack(t *testing.T) {
	now := time.Now()
	tok := newToken(roleToken, "v=Z1;d=sia.demo;e=1", "", now.Add(20*time.Minute+5*time.Second), now.Add(-40*time.Minute))
	for _, rnd := range []float64{0, 0.99} {
		p := testPolicy(rnd)
		e := &entry{attempting: true}
		e.tok.Store(tok)
		s := e.failed(errors.New("ZTS: 503"), now, p, false)
		if d := s.at.Sub(now); d < 4*time.Minute || d > 19*time.Minute {
			t.Errorf("rnd %v: retry in %v, want between 4 and 19 minutes", rnd, d)
		}
	}
	// Without a token, the backoff.
	if at := testPolicy(0.5).spread(now.Add(time.Second), nil, now); !at.Equal(now.Add(time.Second)) {
		t.Errorf("without a token: %v", at.Sub(now))
	}
}
