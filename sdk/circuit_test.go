package sdk

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var failed503 = CallResult{Outcome: CallFailed, Status: 503, Reason: "503 Service Unavailable"}

func testPolicy() CircuitPolicy {
	return CircuitPolicy{Failures: 2, Initial: time.Second, Multiplier: 2, Max: 10 * time.Second, Spread: time.Second}
}

// openCircuit returns a circuit opened by two failures.
func openCircuit(t *testing.T) *Circuit {
	t.Helper()
	c := NewCircuit("zts", testPolicy())
	for range 2 {
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Report(failed503)
	}
	if s := c.Snapshot(); s.State != CircuitOpen {
		t.Fatalf("after 2 failures: %+v", s)
	}
	return c
}

func TestCircuitOpensAfterFailuresInARow(t *testing.T) {
	c := NewCircuit("zts", testPolicy())
	c.Report(failed503)
	c.Report(CallResult{Outcome: CallSucceeded, Status: 404})
	c.Report(failed503)
	if s := c.Snapshot(); s.State != CircuitClosed {
		t.Fatalf("failures not in a row opened it: %+v", s)
	}
	c.Report(failed503)
	if s := c.Snapshot(); s.State != CircuitOpen || s.Opened != 1 {
		t.Fatalf("two in a row: %+v", s)
	}
}

// A caller that cannot wait for the next probe is refused at once, with
// what failed.
func TestCircuitRefusesWhatCannotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := openCircuit(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Wait(ctx)
		var open *CircuitOpenError
		if !errors.As(err, &open) || open.Status != 503 || open.RetryIn <= 0 || open.RetryIn > 10*time.Second {
			t.Fatalf("Wait = %v", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("refused after %v, want at once", time.Since(start))
		}
		if open.Outcome() != "ZTS_503" {
			t.Errorf("outcome %s", open.Outcome())
		}
	})
}

// While the endpoint fails, one call goes per interval; once the probe
// succeeds the others go, within the spread.
func TestCircuitOneProbeThenAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := openCircuit(t)
		opened := time.Now()
		probe := make(chan struct{})
		go func() {
			if err := c.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			close(probe)
		}()
		<-probe
		if d := time.Since(opened); d > 10*time.Second {
			t.Errorf("probe after %v, beyond Max", d)
		}
		var wg sync.WaitGroup
		released := make([]time.Time, 5)
		for i := range released {
			wg.Go(func() {
				if err := c.Wait(context.Background()); err != nil {
					t.Error(err)
				}
				released[i] = time.Now()
			})
		}
		synctest.Wait()
		for i, r := range released {
			if !r.IsZero() {
				t.Fatalf("caller %d went while the probe was out", i)
			}
		}
		time.Sleep(3 * time.Second) // the probe takes 3s
		succeeded := time.Now()
		c.Report(CallResult{Outcome: CallSucceeded, Status: 200})
		wg.Wait()
		for i, r := range released {
			if d := r.Sub(succeeded); d < 0 || d > time.Second {
				t.Errorf("caller %d went %v after the probe succeeded", i, d)
			}
		}
	})
}

// A failed probe sends the others back to wait; the intervals never pass
// Max, and a Retry-After holds the next probe back.
func TestCircuitBacksOffAndHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := openCircuit(t)
		last := time.Now()
		for i := range 20 {
			if err := c.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(last); d > 10*time.Second {
				t.Fatalf("probe %d after %v, beyond Max", i, d)
			}
			last = time.Now()
			c.Report(failed503)
		}
		_ = c.Wait(context.Background())
		c.Report(CallResult{Outcome: CallFailed, Status: 503, RetryAfter: 2 * time.Minute})
		last = time.Now()
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(last); d < 2*time.Minute || d > 2*time.Minute+30*time.Second {
			t.Errorf("probe %v after a Retry-After of 2m", d)
		}
	})
}

// A caller whose context ends while it waits gets the circuit's error
// with the cause; an abandoned probe lets the next caller probe.
func TestCircuitCancelledAndAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := openCircuit(t)
		cause := errors.New("received signal: terminated")
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan error)
		go func() { done <- c.Wait(ctx) }()
		synctest.Wait()
		cancel(cause)
		err := <-done
		var open *CircuitOpenError
		if !errors.As(err, &open) || !errors.Is(err, cause) {
			t.Fatalf("Wait = %v", err)
		}

		if err := c.Wait(context.Background()); err != nil { // the probe
			t.Fatal(err)
		}
		c.Report(CallResult{Outcome: CallAbandoned})
		start := time.Now()
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the next probe waited %v after an abandoned one", d)
		}
	})
}

// A probe that never reports counts as failed after probeTimeout.
func TestCircuitLostProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := openCircuit(t)
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < probeTimeout || d > probeTimeout+10*time.Second {
			t.Errorf("next probe %v after a lost one", d)
		}
		if s := c.Snapshot(); s.State != CircuitProbing {
			t.Errorf("%+v", s)
		}
	})
}

func TestCircuitSetBound(t *testing.T) {
	s := NewCircuitSet()
	for i := range MaxCircuits + 3 {
		s.Report(context.Background(), string(rune('a'+i)), CircuitPolicy{}, failed503)
	}
	if n := len(s.Snapshots()); n != MaxCircuits {
		t.Errorf("%d circuits", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "120": 2 * time.Minute, "x": 0, "-1": 0,
		"Tue, 01 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 11:00:00 GMT": 0,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
