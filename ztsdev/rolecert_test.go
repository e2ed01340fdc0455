package ztsdev_test

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/ztsdev"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

func TestRoleCert(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	c := inst.Client(t, agentName)
	key := newECKey(t)

	rc, err := c.PostRoleCertificateRequestExt(&zts.RoleCertificateRequest{
		Csr: roleCSR(t, key, agentName, demoDomain, "reader"),
	})
	if err != nil {
		t.Fatalf("PostRoleCertificateRequestExt: %v", err)
	}
	cert := parseCert(t, rc.X509Certificate)
	verifyChain(t, inst, cert, x509.ExtKeyUsageClientAuth)
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("role cert EKU = %v, want clientAuth only", cert.ExtKeyUsage)
	}
	if cert.Subject.CommonName != "sia.demo:role.reader" || len(cert.URIs) != 2 ||
		cert.URIs[1].String() != "athenz://principal/"+agentName {
		t.Errorf("role cert subject/URIs = %v %v", cert.Subject, cert.URIs)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != 24*time.Hour {
		t.Errorf("validity = %v, want the default 24h", got)
	}

	// The role certificate authenticates as its principal.
	roleClient := clientWithCert(t, inst, []byte(rc.X509Certificate), keyPEM(t, key))
	if _, err := roleClient.GetRoleToken(demoDomain, "reader", nil, nil, ""); err != nil {
		t.Errorf("role token with the role cert: %v", err)
	}

	t.Run("expiry", func(t *testing.T) {
		for _, tc := range []struct {
			role string
			req  int64
			want time.Duration
		}{
			{"reader", 30, 30 * time.Minute},
			{"short-lived", 0, time.Hour},   // role certExpiryMins
			{"short-lived", 600, time.Hour}, // capped by it
			{"short-lived", 20, 20 * time.Minute},
			{"reader", 100000, 30 * 24 * time.Hour}, // server max
		} {
			rc, err := c.PostRoleCertificateRequestExt(&zts.RoleCertificateRequest{
				Csr: roleCSR(t, key, agentName, demoDomain, tc.role), ExpiryTime: tc.req,
			})
			if err != nil {
				t.Fatalf("%s/%d: %v", tc.role, tc.req, err)
			}
			cert := parseCert(t, rc.X509Certificate)
			if got := cert.NotAfter.Sub(cert.NotBefore); got != tc.want {
				t.Errorf("%s expiryTime %d: validity %v, want %v", tc.role, tc.req, got, tc.want)
			}
		}
	})

	t.Run("legacy call", func(t *testing.T) {
		rt, err := c.PostRoleCertificateRequest(demoDomain, "writer", &zts.RoleCertificateRequest{
			Csr: roleCSR(t, key, agentName, demoDomain, "writer"),
		})
		if err != nil {
			t.Fatalf("PostRoleCertificateRequest: %v", err)
		}
		cert := parseCert(t, rt.Token)
		if rt.ExpiryTime != cert.NotAfter.Unix() || cert.Subject.CommonName != "sia.demo:role.writer" {
			t.Errorf("legacy answer expiryTime %d, cert %v until %v", rt.ExpiryTime, cert.Subject, cert.NotAfter)
		}
		_, err = c.PostRoleCertificateRequest(demoDomain, "reader", &zts.RoleCertificateRequest{
			Csr: roleCSR(t, key, agentName, demoDomain, "writer"),
		})
		wantCode(t, err, 400)
	})

	t.Run("email principal", func(t *testing.T) {
		csr := makeCSR(t, key, csrSpec{cn: "sia.demo:role.reader", emails: []string{agentName + "@" + dnsSuffix}})
		rc, err := c.PostRoleCertificateRequestExt(&zts.RoleCertificateRequest{Csr: csr})
		if err != nil {
			t.Fatalf("role cert with SAN email: %v", err)
		}
		// And the email alone identifies the principal afterwards.
		byEmail := clientWithCert(t, inst, []byte(rc.X509Certificate), keyPEM(t, key))
		if _, err := byEmail.GetRoleToken(demoDomain, "reader", nil, nil, ""); err != nil {
			t.Errorf("role token with an email-principal role cert: %v", err)
		}
	})
}

func TestRoleCertRefusals(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	agent := inst.Client(t, agentName)
	key := newECKey(t)
	req := func(csr string) *zts.RoleCertificateRequest { return &zts.RoleCertificateRequest{Csr: csr} }

	tests := []struct {
		name   string
		client zts.ZTSClient
		req    *zts.RoleCertificateRequest
		code   int
	}{
		{"no client cert", inst.Client(t, ""), req(roleCSR(t, key, agentName, demoDomain, "reader")), 401},
		{"not a member", inst.Client(t, "sia.demo.client"), req(roleCSR(t, key, "sia.demo.client", demoDomain, "reader")), 403},
		{"expired member", agent, req(roleCSR(t, key, agentName, demoDomain, "former")), 403},
		{"no such role", agent, req(roleCSR(t, key, agentName, demoDomain, "nosuch")), 403},
		{"no such domain", agent, req(roleCSR(t, key, agentName, "no.such", "reader")), 404},
		{"garbage CSR", agent, req("garbage"), 400},
		{"missing CSR", agent, req(""), 400},
		{"CN is not a role", agent, req(makeCSR(t, key, csrSpec{cn: agentName, uris: []string{"athenz://principal/" + agentName}})), 400},
		{"principal URI of someone else", agent, req(roleCSR(t, key, "sia.demo.client", demoDomain, "reader")), 400},
		{"no principal at all", agent, req(makeCSR(t, key, csrSpec{cn: "sia.demo:role.reader"})), 400},
		{"foreign SPIFFE URI", agent, req(makeCSR(t, key, csrSpec{cn: "sia.demo:role.reader",
			uris: []string{"spiffe://sia.demo/ra/writer", "athenz://principal/" + agentName}})), 400},
		{"proxy without authorization", agent, &zts.RoleCertificateRequest{
			Csr: roleCSR(t, key, agentName, demoDomain, "reader"), ProxyForPrincipal: "sia.demo.client"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.PostRoleCertificateRequestExt(tt.req)
			wantCode(t, err, tt.code)
		})
	}

	t.Run("role certificate caller", func(t *testing.T) {
		certPEM, kPEM := inst.MintCert(t, ztsdev.CertSpec{Principal: agentName, Role: "sia.demo:role.reader"})
		_, err := clientWithCert(t, inst, certPEM, kPEM).PostRoleCertificateRequestExt(
			req(roleCSR(t, key, agentName, demoDomain, "reader")))
		wantCode(t, err, 403)
	})
}
