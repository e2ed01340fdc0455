package cert

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// The SAN URIs ZTS reads (zts-api.md 3.3 and 4.1), and the DNS form of
// the instance id, which ZTS reads when there is no URI for it.
const (
	uriInstanceIDPrefix = "athenz://instanceid/"
	uriPrincipalPrefix  = "athenz://principal/"
	dnsInstanceIDInfix  = ".instanceid.athenz."
)

// identityRequest is what the identity CSR asks for.
type identityRequest struct {
	Provider, Domain, Service, InstanceID string
	DNSSuffix                             string
	ExtraDNS                              []string
	IPs                                   []net.IP
	Subject                               SubjectConfig
	// SVID asks for an X.509-SVID: the SPIFFE URI is the only URI SAN
	// (identity.x509_svid).
	SVID bool
}

// newIdentityRequest collects the identity CSR's contents from s.
func newIdentityRequest(s *settings) identityRequest {
	return identityRequest{
		Provider:   strings.ToLower(s.Identity.Provider),
		Domain:     strings.ToLower(s.Identity.Domain),
		Service:    strings.ToLower(s.Identity.Service),
		InstanceID: s.Identity.InstanceID,
		DNSSuffix:  s.Identity.DNSSuffix,
		ExtraDNS:   s.Identity.ExtraDNS,
		IPs:        s.ips,
		Subject:    s.Identity.Subject,
		SVID:       s.Identity.X509SVID,
	}
}

// csr builds the identity CSR the way the Athenz SIA does
// (GenerateSvcCertCSR): CN domain.service, OU the provider, SAN DNS
// <service>.<domain with dashes>.<suffix>, then the SPIFFE URI and the
// instance id URI, which ZTS takes the instance id from. An X.509-SVID has
// exactly one URI SAN, so with SVID the instance id is the DNS name
// <instance id>.instanceid.athenz.<suffix> instead, which ZTS reads too.
func (r identityRequest) csr(key *privateKey) ([]byte, error) {
	tmpl := &x509.CertificateRequest{
		Subject:     subject(r.Subject, r.Domain+"."+r.Service, r.Provider),
		DNSNames:    append([]string{r.Service + "." + strings.ReplaceAll(r.Domain, ".", "-") + "." + r.DNSSuffix}, r.ExtraDNS...),
		IPAddresses: r.IPs,
		URIs:        []*url.URL{{Scheme: "spiffe", Host: r.Domain, Path: "/sa/" + r.Service}},
	}
	if r.SVID {
		tmpl.DNSNames = append(tmpl.DNSNames, instanceIDDNS(r.InstanceID, r.DNSSuffix))
	} else {
		tmpl.URIs = append(tmpl.URIs, instanceIDURI(r.Provider, r.InstanceID))
	}
	return createCSR(tmpl, key)
}

// roleRequest is what a role certificate CSR asks for.
type roleRequest struct {
	Target  roleTarget
	IPs     []net.IP
	Subject SubjectConfig
	// SVID asks for an X.509-SVID (identity.x509_svid); the principal is
	// then the email <principal>@<EmailSuffix>.
	SVID        bool
	EmailSuffix string
}

// csr builds a role certificate CSR as the Athenz SIA does
// (GenerateRoleCertCSR): CN <domain>:role.<role>, OU that of the identity,
// SAN URIs spiffe://<domain>/ra/<role>, the identity's instance id URI
// (ZTS checks it against the client certificate) and
// athenz://principal/<domain>.<service>, which names the principal.
// identity is the certificate the request is made with. With SVID the
// SPIFFE URI is the only URI SAN: the principal is named by the email
// <domain>.<service>@<suffix>, the form ZTS reads when there is no
// principal URI, and the instance id, which ZTS only checks when the CSR
// carries it, is left out.
func (r roleRequest) csr(key *privateKey, identity *x509.Certificate) ([]byte, error) {
	principal := strings.ToLower(identity.Subject.CommonName)
	if _, _, ok := splitServiceName(principal); !ok {
		return nil, fmt.Errorf("identity certificate CN %q is not <domain>.<service>", identity.Subject.CommonName)
	}
	ou := r.Subject.OrganizationalUnit
	if ou == "" && len(identity.Subject.OrganizationalUnit) > 0 {
		ou = identity.Subject.OrganizationalUnit[0]
	}
	tmpl := &x509.CertificateRequest{
		Subject:     subject(r.Subject, r.Target.String(), ou),
		IPAddresses: r.IPs,
		URIs:        []*url.URL{{Scheme: "spiffe", Host: r.Target.Domain, Path: "/ra/" + r.Target.Role}},
	}
	if r.SVID {
		tmpl.EmailAddresses = []string{principal + "@" + r.EmailSuffix}
		return createCSR(tmpl, key)
	}
	for _, u := range identity.URIs {
		if strings.HasPrefix(strings.ToLower(u.String()), uriInstanceIDPrefix) {
			tmpl.URIs = append(tmpl.URIs, u)
		}
	}
	tmpl.URIs = append(tmpl.URIs, &url.URL{Scheme: "athenz", Host: "principal", Path: "/" + principal})
	return createCSR(tmpl, key)
}

func instanceIDURI(provider, id string) *url.URL {
	return &url.URL{Scheme: "athenz", Host: "instanceid", Path: "/" + provider + "/" + id}
}

func instanceIDDNS(id, suffix string) string {
	return id + dnsInstanceIDInfix + suffix
}

func subject(sc SubjectConfig, cn, ou string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	add(&n.Country, sc.Country)
	add(&n.Province, sc.Province)
	add(&n.Locality, sc.Locality)
	add(&n.StreetAddress, sc.StreetAddress)
	add(&n.PostalCode, sc.PostalCode)
	add(&n.Organization, sc.Organization)
	add(&n.OrganizationalUnit, ou)
	return n
}

func createCSR(tmpl *x509.CertificateRequest, key *privateKey) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key.signer)
	if err != nil {
		return nil, fmt.Errorf("creating CSR for %s: %w", tmpl.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// splitServiceName splits "domain.service" at the last dot, as Athenz does.
func splitServiceName(name string) (domain, service string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// parseCertPEM parses the first certificate of a PEM bundle and returns it
// with that block alone, PEM-encoded: what goes into a certificate file.
func parseCertPEM(data []byte) (*x509.Certificate, []byte, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, nil, fmt.Errorf("no PEM certificate found")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return cert, pem.EncodeToMemory(block), nil
	}
}
