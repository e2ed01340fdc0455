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

// TestInstanceLifecycle drives register, refresh (including the serial
// rules and revocation) and delete with the official client, the way an SIA
// agent does: register without a client cert, refresh and delete with the
// current identity cert.
func TestInstanceLifecycle(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	key := testKeys()
	const id = "pod-1234"

	anon := inst.Client(t, "")
	ident, location, err := anon.PostInstanceRegisterInformation(registerInfo(t, key, id))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if want := "/zts/v1/instance/sys.auth.dev/sia.demo/agent/" + id; location != want {
		t.Errorf("Location = %q, want %q", location, want)
	}
	if ident.Provider != demoProvider || ident.Name != agentName || string(ident.InstanceId) != id {
		t.Errorf("identity = %s %s %s", ident.Provider, ident.Name, ident.InstanceId)
	}
	if ident.X509CertificateSigner != string(inst.Server.CACertPEM()) {
		t.Error("x509CertificateSigner is not the dev CA")
	}
	if ident.AthenzJWK == nil || len(ident.AthenzJWK.Zts.Keys) != 1 || ident.AthenzJWK.Zms == nil {
		t.Errorf("athenzJWK = %+v, want the ZTS key and an empty ZMS list", ident.AthenzJWK)
	}
	first := parseCert(t, ident.X509Certificate)
	verifyChain(t, inst, first, x509.ExtKeyUsageClientAuth)
	verifyChain(t, inst, first, x509.ExtKeyUsageServerAuth)
	if first.Subject.CommonName != agentName || !slices.Equal(first.Subject.OrganizationalUnit, []string{demoProvider}) {
		t.Errorf("subject = %v, want the CSR's", first.Subject)
	}
	var uris []string
	for _, u := range first.URIs {
		uris = append(uris, u.String())
	}
	wantURIs := []string{"spiffe://sia.demo/sa/agent", "athenz://instanceid/sys.auth.dev/" + id}
	if !slices.Equal(uris, wantURIs) || len(first.DNSNames) != 2 {
		t.Errorf("SANs = %v %v, want the CSR's", first.DNSNames, uris)
	}
	if got := first.NotAfter.Sub(first.NotBefore); got != 24*time.Hour {
		t.Errorf("validity = %v, want the 1440 min default", got)
	}

	refreshWith := func(cert string) (*zts.InstanceIdentity, error) {
		c := clientWithCert(t, inst, []byte(cert), keyPEM(t, key))
		return c.PostInstanceRefreshInformation(demoProvider, demoDomain, demoService, zts.PathElement(id),
			&zts.InstanceRefreshInformation{AttestationData: demoSecret, Csr: serviceCSR(t, key, id)})
	}
	second, err := refreshWith(ident.X509Certificate)
	if err != nil {
		t.Fatalf("refresh with current cert: %v", err)
	}
	if second.InstanceId != zts.PathElement(id) || second.X509Certificate == ident.X509Certificate {
		t.Fatalf("refresh returned %+v", second)
	}
	verifyChain(t, inst, parseCert(t, second.X509Certificate), x509.ExtKeyUsageClientAuth)

	// The previous cert is still good once (a client that lost the answer).
	third, err := refreshWith(ident.X509Certificate)
	if err != nil {
		t.Fatalf("refresh with previous cert: %v", err)
	}
	// second is now neither current nor previous: revoked for good.
	_, err = refreshWith(second.X509Certificate)
	wantCode(t, err, 403)
	_, err = refreshWith(third.X509Certificate)
	wantCode(t, err, 403)

	// Register again starts a new record.
	again, _, err := anon.PostInstanceRegisterInformation(registerInfo(t, key, id))
	if err != nil {
		t.Fatalf("re-register: %v", err)
	}
	if _, err := refreshWith(again.X509Certificate); err != nil {
		t.Fatalf("refresh after re-register: %v", err)
	}

	// Delete with the instance's own identity, then refresh has no record.
	latest := clientWithCert(t, inst, []byte(again.X509Certificate), keyPEM(t, key))
	if err := latest.DeleteInstanceIdentity(demoProvider, demoDomain, demoService, zts.PathElement(id)); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = latest.PostInstanceRefreshInformation(demoProvider, demoDomain, demoService, zts.PathElement(id),
		&zts.InstanceRefreshInformation{AttestationData: demoSecret, Csr: serviceCSR(t, key, id)})
	wantCode(t, err, 403)
}

func TestRegisterRefusals(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	key := testKeys()
	c := inst.Client(t, "")
	ec := newECKey(t)

	tests := []struct {
		name   string
		modify func(*zts.InstanceRegisterInformation)
		code   int
	}{
		{"no such domain", func(i *zts.InstanceRegisterInformation) { i.Domain = "no.such" }, 404},
		{"service not registered", func(i *zts.InstanceRegisterInformation) { i.Service = "nosvc" }, 400},
		{"provider may not launch", func(i *zts.InstanceRegisterInformation) { i.Provider = "sys.auth.other" }, 403},
		{"wrong attestation", func(i *zts.InstanceRegisterInformation) { i.AttestationData = "guess" }, 403},
		{"garbage CSR", func(i *zts.InstanceRegisterInformation) { i.Csr = "not a csr" }, 400},
		{"missing attestation", func(i *zts.InstanceRegisterInformation) { i.AttestationData = "" }, 400},
		{"CN is not the service", func(i *zts.InstanceRegisterInformation) {
			i.Csr = makeCSR(t, ec, csrSpec{cn: "sia.demo.client", uris: []string{"athenz://instanceid/sys.auth.dev/x"}})
		}, 400},
		{"no instance id", func(i *zts.InstanceRegisterInformation) {
			i.Csr = makeCSR(t, ec, csrSpec{cn: agentName})
		}, 400},
		{"DNS name outside the provider suffix", func(i *zts.InstanceRegisterInformation) {
			i.Csr = makeCSR(t, ec, csrSpec{cn: agentName, dns: []string{"agent.example.com"},
				uris: []string{"athenz://instanceid/sys.auth.dev/x"}})
		}, 400},
		{"foreign SPIFFE URI", func(i *zts.InstanceRegisterInformation) {
			i.Csr = makeCSR(t, ec, csrSpec{cn: agentName,
				uris: []string{"spiffe://other/sa/agent", "athenz://instanceid/sys.auth.dev/x"}})
		}, 400},
		{"hostname URI mismatch", func(i *zts.InstanceRegisterInformation) {
			i.Csr = makeCSR(t, ec, csrSpec{cn: agentName,
				uris: []string{"athenz://instanceid/sys.auth.dev/x", "athenz://hostname/h1.example"}})
		}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := registerInfo(t, key, "i-1")
			tt.modify(info)
			_, _, err := c.PostInstanceRegisterInformation(info)
			wantCode(t, err, tt.code)
		})
	}
}

func TestRefreshRefusals(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	key := testKeys()
	const id = "i-77"
	ident, _, err := inst.Client(t, "").PostInstanceRegisterInformation(registerInfo(t, key, id))
	if err != nil {
		t.Fatal(err)
	}
	agent := clientWithCert(t, inst, []byte(ident.X509Certificate), keyPEM(t, key))
	refresh := func(c zts.ZTSClient, service, id string, info *zts.InstanceRefreshInformation) error {
		_, err := c.PostInstanceRefreshInformation(demoProvider, demoDomain, zts.SimpleName(service), zts.PathElement(id), info)
		return err
	}
	good := func() *zts.InstanceRefreshInformation {
		return &zts.InstanceRefreshInformation{AttestationData: demoSecret, Csr: serviceCSR(t, key, id)}
	}

	t.Run("no client cert", func(t *testing.T) {
		wantCode(t, refresh(inst.Client(t, ""), demoService, id, good()), 401)
	})
	t.Run("principal mismatch", func(t *testing.T) {
		other := inst.Client(t, "sia.demo.client")
		wantCode(t, refresh(other, demoService, id, good()), 400)
	})
	t.Run("no csr", func(t *testing.T) {
		wantCode(t, refresh(agent, demoService, id, &zts.InstanceRefreshInformation{AttestationData: demoSecret}), 400)
	})
	t.Run("instance id mismatch", func(t *testing.T) {
		info := good()
		info.Csr = serviceCSR(t, key, "i-other")
		wantCode(t, refresh(agent, demoService, "i-other", info), 400)
	})
	t.Run("wrong attestation", func(t *testing.T) {
		info := good()
		info.AttestationData = "nope"
		wantCode(t, refresh(agent, demoService, id, info), 403)
	})
	t.Run("role certificate", func(t *testing.T) {
		certPEM, keyPEM := inst.MintCert(t, ztsdev.CertSpec{Principal: agentName, Role: "sia.demo:role.reader"})
		wantCode(t, refresh(clientWithCert(t, inst, certPEM, keyPEM), demoService, id, good()), 403)
	})
	t.Run("still works", func(t *testing.T) {
		if err := refresh(agent, demoService, id, good()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMintedInstanceRefreshes checks that a minted identity with an
// instance id can refresh without registering.
func TestMintedInstanceRefreshes(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	certPEM, kPEM := inst.MintCert(t, ztsdev.CertSpec{Principal: agentName, Provider: demoProvider, InstanceID: "m-1"})
	c := clientWithCert(t, inst, certPEM, kPEM)
	key, err := tlsKey(kPEM)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PostInstanceRefreshInformation(demoProvider, demoDomain, demoService, "m-1",
		&zts.InstanceRefreshInformation{AttestationData: demoSecret, Csr: serviceCSR(t, key, "m-1")})
	if err != nil {
		t.Fatalf("refresh of minted instance: %v", err)
	}
}

func TestDeleteAuthorization(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	del := func(c zts.ZTSClient, service string) error {
		return c.DeleteInstanceIdentity(demoProvider, demoDomain, zts.SimpleName(service), "x")
	}
	wantCode(t, del(inst.Client(t, ""), demoService), 401)
	// Neither the instance itself, nor the provider, nor a domain admin.
	wantCode(t, del(inst.Client(t, "sia.demo.client"), demoService), 403)
	for _, tc := range []struct{ who, service string }{
		{agentName, demoService}, // the instance itself
		{demoProvider, "client"}, // the provider
		{agentName, "client"},    // a member of sia.demo:role.admin
	} {
		if err := del(inst.Client(t, tc.who), tc.service); err != nil {
			t.Errorf("delete %s instance as %s: %v", tc.service, tc.who, err)
		}
	}
}
