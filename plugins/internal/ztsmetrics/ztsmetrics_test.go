package ztsmetrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserve(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(reg) // a second provider instance in the same process
	if err != nil {
		t.Fatal(err)
	}
	m.Observe("roletoken", 200, nil, 10*time.Millisecond)
	again.Observe("roletoken", 200, nil, 10*time.Millisecond)
	m.Observe("roletoken", 0, context.DeadlineExceeded, time.Second)
	m.Observe("rolecert", 0, errors.New("connection refused"), time.Millisecond)
	var nilMetrics *Metrics
	nilMetrics.Observe("x", 200, nil, 0) // a provider without metrics

	want := `# HELP sia_zts_requests_total Calls to ZTS, by operation and HTTP status code (error, timeout or canceled when no response came).
# TYPE sia_zts_requests_total counter
sia_zts_requests_total{code="200",operation="roletoken"} 2
sia_zts_requests_total{code="error",operation="rolecert"} 1
sia_zts_requests_total{code="timeout",operation="roletoken"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sia_zts_requests_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
