package ztsdev_test

import (
	"net/url"
	"testing"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// BenchmarkIssuance measures how fast zts-dev issues credentials through
// the official client over real TLS on loopback, with keep-alive
// connections and 4*GOMAXPROCS concurrent callers. Client and server share
// the machine (the client's own work, e.g. rdl validation of every
// response, is included), so these are lower bounds for the server.
func BenchmarkIssuance(b *testing.B) {
	inst := ztsdevtest.Start(b, "")
	c := inst.Client(b, agentName) // safe for concurrent use
	perSecond := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}

	b.Run("RoleToken", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.GetRoleToken(demoDomain, "reader", nil, nil, ""); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b)
	})

	b.Run("AccessToken", func(b *testing.B) {
		req := zts.AccessTokenRequest(url.Values{
			"grant_type": {"client_credentials"}, "scope": {"sia.demo:role.reader"}}.Encode())
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.PostAccessTokenRequest(req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b)
	})

	b.Run("RoleCert", func(b *testing.B) {
		// One CSR: the benchmark is about the server, not client keygen.
		req := &zts.RoleCertificateRequest{Csr: roleCSR(b, newECKey(b), agentName, demoDomain, "reader")}
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.PostRoleCertificateRequestExt(req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		perSecond(b)
	})
}
