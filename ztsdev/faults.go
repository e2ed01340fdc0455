package ztsdev

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// faultRule is a Fault with its remaining budget. The budget lives as long
// as the rule is unchanged across reloads, so a reload for an unrelated
// change does not re-arm "fail the next N calls".
type faultRule struct {
	Fault
	key       string
	remaining *atomic.Int64 // nil when Count == 0 (unlimited)
}

// compileFaults builds the rules of a new config, taking over the budgets
// of identical rules from prev.
func compileFaults(faults []Fault, prev []*faultRule) []*faultRule {
	old := make(map[string]*faultRule, len(prev))
	for _, r := range prev {
		old[r.key] = r
	}
	seen := make(map[string]int, len(faults))
	rules := make([]*faultRule, 0, len(faults))
	for _, f := range faults {
		base := fmt.Sprintf("%s|%s|%s|%d|%q|%s|%d|%s", f.ID, f.Operation, f.Domain, f.Status, f.Message, f.Latency, f.Count, f.RetryAfter)
		// Identical rules are distinct rules with their own budgets.
		key := fmt.Sprintf("%s#%d", base, seen[base])
		seen[base]++

		r := &faultRule{Fault: f, key: key}
		if f.Count > 0 {
			if o, ok := old[key]; ok && o.remaining != nil {
				r.remaining = o.remaining
			} else {
				r.remaining = new(atomic.Int64)
				r.remaining.Store(int64(f.Count))
			}
		}
		rules = append(rules, r)
	}
	return rules
}

func (r *faultRule) matches(op, domain string) bool {
	return (r.Operation == "" || r.Operation == op) && (r.Domain == "" || r.Domain == domain)
}

// take consumes one unit of budget, reporting false when none is left.
func (r *faultRule) take() bool {
	if r.remaining == nil {
		return true
	}
	for {
		n := r.remaining.Load()
		if n <= 0 {
			return false
		}
		if r.remaining.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// selectFault returns the first rule that matches and still has budget.
func selectFault(rules []*faultRule, op, domain string) *faultRule {
	for _, r := range rules {
		if r.matches(op, domain) && r.take() {
			return r
		}
	}
	return nil
}

// apply waits out the rule's latency and returns its error, if any. The
// wait ends early, with the request abandoned, when ctx is done (client
// gone or server shutting down).
func (r *faultRule) apply(ctx context.Context) (*apiError, error) {
	if r.Latency > 0 {
		t := time.NewTimer(r.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	if r.Status == 0 {
		return nil, nil
	}
	return &apiError{Code: r.Status, Message: r.Message, retryAfter: r.RetryAfter}, nil
}
