package hello_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sia-agent/sia-agent/examples/hello-provider/hello"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// Every problem of a config is reported at once, each with its file, line
// and key.
func TestValidate(t *testing.T) {
	cfg, err := sdk.ParseConfig("pipeline.yaml", `address: localhost
greting: Hi
lifetime: 1m
refresh_before: 5m
`)
	if err != nil {
		t.Fatal(err)
	}
	err = (&hello.Provider{}).Validate(context.Background(), cfg)
	want := []string{
		`pipeline.yaml:2: greting: unknown key "greting" (did you mean "greeting"?)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("decoding: got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}

	cfg, _ = sdk.ParseConfig("pipeline.yaml", `address: localhost
greeting: ""
lifetime: 1m
refresh_before: 5m
`)
	err = (&hello.Provider{}).Validate(context.Background(), cfg)
	want = []string{
		`pipeline.yaml:1: address: "localhost" is not host:port (write e.g. 127.0.0.1:8090)`,
		`pipeline.yaml:2: greeting: empty: write what the server should say, e.g. Hello`,
		`pipeline.yaml:4: refresh_before: 5m0s must be more than 0 and less than lifetime (1m0s)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("checking: got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// The provider in-process, through the agent's lifecycle: Init reports
// the first credential, Start serves greetings and refreshes the
// credential ahead of its expiry, Shutdown stops everything (the harness
// fails the test if a goroutine is left).
func TestLifecycle(t *testing.T) {
	p := &hello.Provider{}
	h := sdktest.New(t, p, "hello", `address: 127.0.0.1:0
greeting: Hi
lifetime: 400ms
refresh_before: 300ms
`)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	first := h.Host.WaitRecord(t, time.Second, func(r sdk.StatusRecord) bool { return true })
	if first.Reason != sdk.ReasonNew || first.Outcome != sdk.OutcomeSuccess || first.Expiry.IsZero() {
		t.Errorf("first record: %+v", first)
	}

	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + p.Addr().String() + "/hello?name=sia"
	body := get(t, url, http.StatusOK)
	if !regexp.MustCompile(`^Hi, sia! \(credential #1, valid until \S+\)\n$`).MatchString(body) {
		t.Errorf("greeting %q", body)
	}

	// 100ms after it was issued, the credential is due.
	h.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Reason == sdk.ReasonExpires && r.Outcome == sdk.OutcomeSuccess
	})

	reg := h.Runtime.Metrics.(prometheus.Gatherer)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hello_requests_total Greetings served, by HTTP status code.
# TYPE hello_requests_total counter
hello_requests_total{code="200"} 1
`), "hello_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "hello_credential_refreshes_total"); err != nil || n != 1 {
		t.Errorf("hello_credential_refreshes_total: %d series, %v", n, err)
	}

	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}

// Once the run is cancelled (a signal, a failed start) the refresh timer
// skips its ticks, and Shutdown still stops it.
func TestRefreshSkippedWhenTheRunIsCancelled(t *testing.T) {
	h := sdktest.New(t, &hello.Provider{}, "hello", `address: 127.0.0.1:0
lifetime: 200ms
refresh_before: 150ms
`)
	skipped := make(chan struct{})
	h.Runtime.Logger = hclog.New(&hclog.LoggerOptions{Output: &lineWatch{substr: "Skipped to refresh", seen: skipped}})
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	h.CancelRun(errors.New("received signal: interrupt"))
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-skipped:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh timer did not skip its tick")
	}
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.Host.Records() {
		if r.Reason == sdk.ReasonExpires {
			t.Errorf("refreshed after the run was cancelled: %+v", r)
		}
	}
}

// lineWatch closes seen the first time a write contains substr.
type lineWatch struct {
	substr string
	seen   chan struct{}
	once   sync.Once
}

func (w *lineWatch) Write(b []byte) (int, error) {
	if strings.Contains(string(b), w.substr) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(b), nil
}

// A port in use fails Start with an error naming it; Shutdown is clean.
func TestPortInUse(t *testing.T) {
	first := &hello.Provider{}
	h1 := sdktest.New(t, first, "first", "address: 127.0.0.1:0\n")
	if err := h1.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h1.Start(); err != nil {
		t.Fatal(err)
	}
	h2 := sdktest.New(t, &hello.Provider{}, "second", "address: "+first.Addr().String()+"\n")
	if err := h2.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h2.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a port in use: %v", err)
	}
}

// Shutdown is safe when Init never ran, as for a provider the agent
// loaded but never initialised.
func TestShutdownWithoutInit(t *testing.T) {
	h := sdktest.New(t, &hello.Provider{}, "hello", "")
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string, code int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, code)
	}
	return string(b)
}
