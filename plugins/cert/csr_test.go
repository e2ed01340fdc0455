package cert

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"slices"
	"testing"
)

func parseCSR(t *testing.T, data []byte) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("not a PEM CSR: %q", data)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	return csr
}

func uris(us []*url.URL) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}

// The identity CSR follows zts-api.md 3.3: CN domain.service, OU the
// provider, SAN DNS <service>.<domain-dashed>.<suffix>, the SPIFFE URI and
// then the instance id URI.
func TestIdentityCSR(t *testing.T) {
	key, err := generateKey(KeyConfig{Type: keyRSA, Bits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	r := identityRequest{
		Provider: "sys.auth.dev", Domain: "sia.demo.sub", Service: "agent", InstanceID: "2c5e-41@pod",
		DNSSuffix: "zts.athenz.cloud", ExtraDNS: []string{"agent.example.com"},
		IPs:     []net.IP{net.ParseIP("10.1.2.3")},
		Subject: SubjectConfig{Country: "JP", Organization: "Example"},
	}
	data, err := r.csr(key)
	if err != nil {
		t.Fatal(err)
	}
	csr := parseCSR(t, data)
	if got := csr.Subject.String(); got != "CN=sia.demo.sub.agent,OU=sys.auth.dev,O=Example,C=JP" {
		t.Errorf("subject %s", got)
	}
	if want := []string{"agent.sia-demo-sub.zts.athenz.cloud", "agent.example.com"}; !slices.Equal(csr.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", csr.DNSNames, want)
	}
	if want := []string{"spiffe://sia.demo.sub/sa/agent", "athenz://instanceid/sys.auth.dev/2c5e-41@pod"}; !slices.Equal(uris(csr.URIs), want) {
		t.Errorf("URIs %v, want %v", uris(csr.URIs), want)
	}
	if len(csr.IPAddresses) != 1 || !csr.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) {
		t.Errorf("IPs %v", csr.IPAddresses)
	}
	if csr.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature %v, want SHA256WithRSA", csr.SignatureAlgorithm)
	}
	if len(csr.EmailAddresses) != 0 {
		t.Errorf("emails %v", csr.EmailAddresses)
	}
}

// The role CSR follows zts-api.md 4.1: CN <domain>:role.<role>, the
// identity's OU, URIs spiffe role, the identity's instance id and the
// principal; no DNS names.
func TestRoleCSR(t *testing.T) {
	key, err := generateKey(KeyConfig{Type: keyECDSA, Bits: 256})
	if err != nil {
		t.Fatal(err)
	}
	identity := &x509.Certificate{}
	identity.Subject.CommonName = "Sia.Demo.Agent"
	identity.Subject.OrganizationalUnit = []string{"sys.auth.dev"}
	identity.URIs = []*url.URL{
		{Scheme: "spiffe", Host: "sia.demo", Path: "/sa/agent"},
		instanceIDURI("sys.auth.dev", "pod-1"),
	}
	r := roleRequest{Target: roleTarget{Domain: "other.domain", Role: "readers"}}
	data, err := r.csr(key, identity)
	if err != nil {
		t.Fatal(err)
	}
	csr := parseCSR(t, data)
	if got := csr.Subject.String(); got != "CN=other.domain:role.readers,OU=sys.auth.dev" {
		t.Errorf("subject %s", got)
	}
	want := []string{"spiffe://other.domain/ra/readers", "athenz://instanceid/sys.auth.dev/pod-1", "athenz://principal/sia.demo.agent"}
	if !slices.Equal(uris(csr.URIs), want) {
		t.Errorf("URIs %v, want %v", uris(csr.URIs), want)
	}
	if len(csr.DNSNames) != 0 || len(csr.EmailAddresses) != 0 {
		t.Errorf("DNS %v, emails %v: want none", csr.DNSNames, csr.EmailAddresses)
	}

	identity.Subject.CommonName = "nodot"
	if _, err := r.csr(key, identity); err == nil {
		t.Error("a CN without domain.service made a role CSR")
	}
}

func TestKeys(t *testing.T) {
	for _, kc := range []KeyConfig{{Type: keyRSA, Bits: 2048}, {Type: keyECDSA, Bits: 256}} {
		key, err := generateKey(kc)
		if err != nil {
			t.Fatal(err)
		}
		if !key.fits(kc) {
			t.Errorf("%+v: generated key does not fit", kc)
		}
		parsed, err := parseKey(key.pem)
		if err != nil {
			t.Fatalf("%+v: %v", kc, err)
		}
		if !parsed.samePEM(key.pem) || !parsed.fits(kc) {
			t.Errorf("%+v: parsed key differs", kc)
		}
	}
	rsa3072 := KeyConfig{Type: keyRSA, Bits: 3072}
	key, _ := generateKey(KeyConfig{Type: keyRSA, Bits: 2048})
	if key.fits(rsa3072) || key.fits(KeyConfig{Type: keyECDSA, Bits: 256}) {
		t.Error("an RSA-2048 key fits another policy")
	}
	if _, err := parseKey([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")); err == nil {
		t.Error("parsed a key out of a certificate")
	}
}

// With identity.x509_svid the CSRs ask for X.509-SVIDs: the SPIFFE URI is
// the only URI SAN. The identity's instance id becomes the DNS name ZTS
// also reads; a role CSR names its principal by email and leaves the
// instance id out.
func TestCSRsAsX509SVIDs(t *testing.T) {
	key, err := generateKey(KeyConfig{Type: keyECDSA, Bits: 256})
	if err != nil {
		t.Fatal(err)
	}
	id := identityRequest{
		Provider: "sys.auth.dev", Domain: "sia.demo", Service: "agent", InstanceID: "pod-1",
		DNSSuffix: "zts.athenz.cloud", SVID: true,
	}
	data, err := id.csr(key)
	if err != nil {
		t.Fatal(err)
	}
	csr := parseCSR(t, data)
	if want := []string{"spiffe://sia.demo/sa/agent"}; !slices.Equal(uris(csr.URIs), want) {
		t.Errorf("identity URIs %v, want %v", uris(csr.URIs), want)
	}
	if want := []string{"agent.sia-demo.zts.athenz.cloud", "pod-1.instanceid.athenz.zts.athenz.cloud"}; !slices.Equal(csr.DNSNames, want) {
		t.Errorf("identity DNS names %v, want %v", csr.DNSNames, want)
	}

	identity := &x509.Certificate{DNSNames: csr.DNSNames, URIs: csr.URIs}
	identity.Subject.CommonName = "sia.demo.agent"
	role := roleRequest{Target: roleTarget{Domain: "sia.demo", Role: "reader"}, SVID: true, EmailSuffix: "zts.athenz.cloud"}
	if data, err = role.csr(key, identity); err != nil {
		t.Fatal(err)
	}
	csr = parseCSR(t, data)
	if want := []string{"spiffe://sia.demo/ra/reader"}; !slices.Equal(uris(csr.URIs), want) {
		t.Errorf("role URIs %v, want %v", uris(csr.URIs), want)
	}
	if want := []string{"sia.demo.agent@zts.athenz.cloud"}; !slices.Equal(csr.EmailAddresses, want) {
		t.Errorf("role emails %v, want %v", csr.EmailAddresses, want)
	}
	if len(csr.DNSNames) != 0 {
		t.Errorf("role DNS names %v, want none", csr.DNSNames)
	}
}

// Every subject attribute goes in both CSRs; organizational_unit in the
// role CSRs alone, the identity's OU being the provider.
func TestCSRSubjectAttributes(t *testing.T) {
	key, err := generateKey(KeyConfig{Type: keyECDSA, Bits: 256})
	if err != nil {
		t.Fatal(err)
	}
	sub := SubjectConfig{Country: "JP", Province: "Tokyo", Locality: "Chiyoda", StreetAddress: "1-1 Marunouchi",
		PostalCode: "100-0005", Organization: "Example", OrganizationalUnit: "Platform"}
	id := identityRequest{Provider: "sys.auth.dev", Domain: "sia.demo", Service: "agent", InstanceID: "pod-1",
		DNSSuffix: "zts.athenz.cloud", Subject: sub}
	data, err := id.csr(key)
	if err != nil {
		t.Fatal(err)
	}
	rest := ",O=Example,POSTALCODE=100-0005,STREET=1-1 Marunouchi,L=Chiyoda,ST=Tokyo,C=JP"
	if got := parseCSR(t, data).Subject.String(); got != "CN=sia.demo.agent,OU=sys.auth.dev"+rest {
		t.Errorf("identity subject %s", got)
	}
	identity := &x509.Certificate{}
	identity.Subject.CommonName = "sia.demo.agent"
	identity.Subject.OrganizationalUnit = []string{"sys.auth.dev"}
	r := roleRequest{Target: roleTarget{Domain: "sia.demo", Role: "reader"}, Subject: sub}
	if data, err = r.csr(key, identity); err != nil {
		t.Fatal(err)
	}
	if got := parseCSR(t, data).Subject.String(); got != "CN=sia.demo:role.reader,OU=Platform"+rest {
		t.Errorf("role subject %s", got)
	}
}
