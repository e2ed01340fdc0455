package httpserver

import (
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Check names the key of each problem; Resolve makes the TLS files
// absolute against the pipeline's directory.
func TestEndpoint(t *testing.T) {
	var check conf.Checker
	Endpoint{Address: "nowhere", Timeout: 0}.Check(&check)
	var keys []string
	for _, p := range conf.AsProblems(check.Err()) {
		keys = append(keys, p.Path.String())
	}
	if got := strings.Join(keys, ","); got != "address,timeout" {
		t.Errorf("problems at %q, want address,timeout", got)
	}

	e := Endpoint{TLS: TLS{CertFile: "c.pem", KeyFile: "/abs/k.pem"}}.Resolve("/etc/sia")
	if e.TLS.CertFile != "/etc/sia/c.pem" || e.TLS.KeyFile != "/abs/k.pem" {
		t.Errorf("Resolve: %+v", e.TLS)
	}
}
