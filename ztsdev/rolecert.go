package ztsdev

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"strings"

	"github.com/AthenZ/athenz/clients/go/zts"
)

// roleCert is PostRoleCertificateRequestExt: POST /rolecert. The role
// comes from the CSR's CN, "<domain>:role.<role>".
func (s *Server) roleCert(_ context.Context, rq *request) (*response, *apiError) {
	certPEM, _, e := s.issueRoleCert(rq, "", "")
	if e != nil {
		return nil, e
	}
	return ok(&zts.RoleCertificate{X509Certificate: certPEM}), nil
}

// roleCertLegacy is the deprecated PostRoleCertificateRequest:
// POST /domain/{domainName}/role/{roleName}/token, answered with a
// RoleToken whose token is the PEM certificate.
func (s *Server) roleCertLegacy(_ context.Context, rq *request) (*response, *apiError) {
	domain := strings.ToLower(rq.PathValue("domain"))
	role := strings.ToLower(rq.PathValue("role"))
	if !isDomainName(domain) {
		return nil, badRequest("Invalid DomainName error: %q", domain)
	}
	if !isEntityName(role) {
		return nil, badRequest("Invalid EntityName error: %q", role)
	}
	certPEM, cert, e := s.issueRoleCert(rq, domain, role)
	if e != nil {
		return nil, e
	}
	return ok(&zts.RoleToken{Token: certPEM, ExpiryTime: cert.NotAfter.Unix()}), nil
}

// issueRoleCert is processRoleCertificateRequest. wantDomain/wantRole,
// when set, must match the CSR (the legacy call names them in its path).
func (s *Server) issueRoleCert(rq *request, wantDomain, wantRole string) (string, *x509.Certificate, *apiError) {
	p := rq.principal
	if p.isRoleCert() {
		return "", nil, forbidden("Role Identity not authorized for request")
	}
	var req zts.RoleCertificateRequest
	if e := decodeBody(rq.body, &req, "RoleCertificateRequest"); e != nil {
		return "", nil, e
	}
	csr, err := parseCSR(req.Csr)
	if err != nil {
		return "", nil, badRequest("unable to parse PKCS10 CSR: %v", err)
	}
	domain, role, isRole := splitRoleName(strings.ToLower(csr.Subject.CommonName))
	if !isRole {
		return "", nil, badRequest("Role Certificate CN is not a valid role: %s", csr.Subject.CommonName)
	}
	if wantDomain != "" && (domain != wantDomain || role != wantRole) {
		return "", nil, badRequest("Role Certificate Request mismatch")
	}

	dom, roles, principalName, proxyUser, e := rq.roleCertRoles(domain, role, strings.ToLower(string(req.ProxyForPrincipal)))
	if e != nil {
		return "", nil, e
	}
	check := &roleCSR{
		domain: domain, role: role, principal: principalName, proxyUser: proxyUser,
		clientCert: p.cert, emailSuffix: rq.st.cfg.Server.CertDNSSuffix,
		trustDomain: rq.st.cfg.Server.SpiffeTrustDomain,
	}
	if err := check.validate(csr); err != nil {
		return "", nil, badRequest("Unable to validate cert request: %v", err)
	}

	validity := roleCertTimeout(&rq.st.cfg.Server, dom, roles, req.ExpiryTime)
	cert, certPEM, err := s.keys.issue(csr, usageClient, validity, rq.now)
	if err != nil {
		return "", nil, serverError("Unable to create certificate from the cert signer: %v", err)
	}
	return certPEM, cert, nil
}

// roleCertRoles are the roles of domain the request's principal (or the
// principal it is a proxy for) may have a certificate for, and whom the
// certificate is for.
func (rq *request) roleCertRoles(domain, role, proxyFor string) (dom *domainIndex, roles []string, principal, proxyUser string, e *apiError) {
	p := rq.principal
	if proxyFor != "" && !rq.st.isProxyUser(p.name) {
		return nil, nil, "", "", forbidden("Principal: %s not authorized for proxy role certificate request", p.name)
	}
	dom = rq.st.domains[domain]
	if dom == nil {
		return nil, nil, "", "", notFound("No such domain: %s", domain)
	}
	requested := []string{role}
	roles = dom.accessibleRoles(p.name, requested, rq.now)
	if len(roles) == 0 {
		return nil, nil, "", "", forbidden("%s", tokenErrorMessage("postRoleCertificateRequest", p.name, domain, requested))
	}
	if proxyFor == "" {
		return dom, roles, p.name, "", nil
	}
	roles = intersect(roles, dom.accessibleRoles(proxyFor, requested, rq.now))
	if len(roles) == 0 {
		return nil, nil, "", "", forbidden("%s", tokenErrorMessage("postRoleCertificateRequest", proxyFor, domain, requested))
	}
	return dom, roles, proxyFor, p.name, nil
}

// roleCertDomain is the domain of a /rolecert request, for fault matching.
func roleCertDomain(rq *request) string {
	var v struct {
		Csr string `json:"csr"`
	}
	if json.Unmarshal(rq.body, &v) != nil {
		return ""
	}
	csr, err := parseCSR(v.Csr)
	if err != nil {
		return ""
	}
	domain, _, _ := splitRoleName(strings.ToLower(csr.Subject.CommonName))
	return domain
}
