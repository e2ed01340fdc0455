package ztsdev

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"slices"
	"strings"
)

// SAN URI prefixes Athenz gives meaning to.
const (
	uriPrincipal  = "athenz://principal/"
	uriInstanceID = "athenz://instanceid/"
	uriHostname   = "athenz://hostname/"
	uriProxyUser  = "athenz://proxyuser/"
	uriSpiffe     = "spiffe://"
	dnsInstanceID = ".instanceid.athenz."
	restrictedOU  = ":restricted"
)

// principal is the caller identified by its verified client certificate.
type principal struct {
	name    string // "domain.service", lower-case
	domain  string
	service string
	// roles is non-nil for a role certificate: the CN ("d:role.r"), the
	// only roles it may get tokens for.
	roles []string
	cert  *x509.Certificate
}

func (p *principal) isRoleCert() bool { return p.roles != nil }

// principalFromTLS applies CertificateIdentityParser.parse to the verified
// leaf. It returns nil without error when no certificate was presented, and
// an error (to be sent as 401 where authentication is required) when the
// certificate does not name a usable identity.
func principalFromTLS(cs *tls.ConnectionState) (*principal, *apiError) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	cert := cs.VerifiedChains[0][0]
	cn := cert.Subject.CommonName
	name := cn
	var roles []string
	if strings.Contains(cn, roleSep) {
		name = rolePrincipal(cert)
		if name == "" {
			return nil, unauthorized("Invalid role certificate: no principal in SAN URI or email")
		}
		roles = []string{strings.ToLower(cn)}
	}
	name = strings.ToLower(name)
	domain, service, ok := splitServiceName(name)
	if !ok {
		return nil, unauthorized("Principal is not a valid service identity")
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if strings.HasSuffix(ou, restrictedOU) {
			return nil, unauthorized("certificate is mTLS restricted")
		}
	}
	return &principal{name: name, domain: domain, service: service, roles: roles, cert: cert}, nil
}

// rolePrincipal is the principal a role certificate was issued to: its
// athenz://principal/ URI, or else the local part of its single email.
func rolePrincipal(cert *x509.Certificate) string {
	if p, ok := uriItem(cert.URIs, uriPrincipal); ok {
		return p
	}
	if len(cert.EmailAddresses) == 1 {
		if local, _, ok := strings.Cut(cert.EmailAddresses[0], "@"); ok {
			return local
		}
	}
	return ""
}

// uriItem returns what follows prefix in the first URI that starts with it.
func uriItem(uris []*url.URL, prefix string) (string, bool) {
	for _, u := range uris {
		if s := u.String(); strings.HasPrefix(s, prefix) {
			return s[len(prefix):], true
		}
	}
	return "", false
}

// instanceID extracts the instance id as X509CertUtils does: from
// athenz://instanceid/<provider>/<id>, else from a SAN DNS name
// <id>.instanceid.athenz.<suffix>.
func instanceID(uris []*url.URL, dnsNames []string) string {
	for _, u := range uris {
		s := u.String()
		if !strings.HasPrefix(s, uriInstanceID) {
			continue
		}
		rest := s[len(uriInstanceID):]
		if i := strings.IndexByte(rest, '/'); i != -1 {
			return rest[i+1:]
		}
	}
	for _, d := range dnsNames {
		if i := strings.Index(d, dnsInstanceID); i != -1 {
			return d[:i]
		}
	}
	return ""
}

// hasRoles reports whether a role-certificate principal may get tokens for
// all of roles in domain (isPrincipalRoleCertificateAccessValid); service
// principals may always.
func (p *principal) hasRoles(domain string, roles []string) bool {
	if !p.isRoleCert() {
		return true
	}
	for _, r := range roles {
		if !slices.Contains(p.roles, domain+roleSep+r) {
			return false
		}
	}
	return true
}
