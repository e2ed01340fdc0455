package cert

import (
	"crypto/tls"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// ZTS operations, the operation label of the request metrics.
const (
	opRegister = "register"
	opRefresh  = "refresh"
	opDelete   = "delete"
	opRoleCert = "rolecert"
	opCACerts  = "cacerts"
)

// newZTSClient trusts caFile (the system roots when empty) and presents
// whatever identity current returns when ZTS asks for a certificate (none
// before the first: register needs none). Calls share no connection over
// HTTP/2, so that none made with an old identity outlives the switch to
// a new one.
func newZTSClient(s *settings, current func() *tls.Certificate, m *metrics, circuits sdk.Circuits) (*ztsclient.Client, error) {
	return ztsclient.New(ztsclient.Config{
		Endpoint:            s.Endpoint,
		CAFile:              s.CAFile,
		Identity:            func() (*tls.Certificate, error) { return current(), nil },
		Timeout:             s.Timeout.Std(),
		MaxIdleConnsPerHost: s.RoleCerts.Concurrency,
		Metrics:             m,
		Provider:            "cert",
		// The outcomes docs/cert.md names: ZTS_ERROR_<status>.
		OutcomePrefix: "ZTS_ERROR_",
		Circuits:      circuits,
		CircuitPolicy: s.Circuit.Policy(),
	})
}
