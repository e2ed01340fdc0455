package token

import (
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// demoWithFaults is the demo data set with fault rules (YAML list items).
func demoWithFaults(faults string) string {
	demo := string(ztsdev.DemoConfig())
	if faults == "" {
		return demo
	}
	return strings.Replace(demo, "faults: []", "faults:\n"+faults, 1)
}

// ZTS fails when the agent starts: the server answers at once, 503 until
// the tokens arrive, then 200 without a restart.
func TestZTSDownAtStart(t *testing.T) {
	z := startZTS(t, demoWithFaults("  - {operation: \"*\", status: 503, message: down for maintenance}\n"))
	// ZTS stays down until the test brings it back, and retries would go
	// on for an hour: Start returning at all is Start not waiting on ZTS.
	s := start(t, z.config("targets: [{domain: sia.demo, roles: [reader]}]\n"+
		"refresh: {retry: {initial: 50ms, max: 200ms, max_elapsed: 1h}}\n"))
	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if a.code != 503 || !strings.Contains(a.body, "ZTS failed (503)") || strings.Contains(a.body, "maintenance") {
		t.Fatalf("with ZTS down: %d %s", a.code, a.body)
	}
	rec, _ := statusOf(s.Host, "roletoken/sia.demo:reader")
	if rec.Outcome != "ZTS_503" || rec.Reason != sdk.ReasonNew {
		t.Errorf("status while down: %+v", rec)
	}

	z.Reconfigure(t, demoWithFaults(""))
	// The refresh loop's retries get the tokens: nobody has to ask.
	s.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Credential == "accesstoken/sia.demo:reader" && r.Outcome == sdk.OutcomeSuccess
	})
	s.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Credential == "roletoken/sia.demo:reader" && r.Outcome == sdk.OutcomeSuccess
	})
	if a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), ""); a.code != 200 {
		t.Errorf("after ZTS came back: %d %s", a.code, a.body)
	}
}

// A ZTS too slow for the request timeout: 503 in time, and the token the
// fetch brings afterwards is served without another call.
func TestZTSTooSlow(t *testing.T) {
	z := startZTS(t, demoWithFaults("  - {operation: roletoken, latency: 1s, count: 1}\n"))
	s := start(t, z.config("token_types: [roletoken]\nserver: {request_timeout: 100ms}\n"))
	// A ZTS that answered in the end would have given a 200: a 503 that
	// says ZTS did not answer in time is the request timeout's.
	a := do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"reader"}`)
	if a.code != 503 || !strings.Contains(a.body, "ZTS did not answer in time") {
		t.Fatalf("%d %s, want 503: ZTS did not answer in time", a.code, a.body)
	}
	s.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Credential == "roletoken/sia.demo:reader" && r.Outcome == sdk.OutcomeSuccess
	})
	if a := do(t, nil, "POST", s.base+"/roletoken", nil, `{"domain":"sia.demo","role":"reader"}`); a.code != 200 {
		t.Errorf("once fetched: %d %s", a.code, a.body)
	}
	if n := z.Server.Requests(ztsdev.OpRoleToken); n != 1 {
		t.Errorf("%d role token calls to ZTS, want 1", n)
	}
}

func TestZTSUnreachable(t *testing.T) {
	z := startZTS(t, "")
	cfg := strings.Replace(z.config(""), z.URL, "https://127.0.0.1:1/zts/v1", 1)
	s := start(t, cfg)
	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if a.code != 503 || a.body != `{"error":"ZTS cannot be reached: accesstoken/sia.demo:reader"}` {
		t.Errorf("%d %s", a.code, a.body)
	}
}
