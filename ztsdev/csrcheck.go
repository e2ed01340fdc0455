package ztsdev

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// serviceCSR is what an identity CSR is checked against
// (X509ServiceCertRequest.validate).
type serviceCSR struct {
	domain      *domainIndex
	service     string
	provider    *Provider
	hostname    string   // InstanceRegisterInformation.hostname
	hostCnames  []string // InstanceRegisterInformation.hostCnames
	namespace   string   // SPIFFE namespace, default "default"
	trustDomain string
}

// validate checks csr and returns its instance id. The error text follows
// "CSR validation failed - ".
func (c *serviceCSR) validate(csr *x509.CertificateRequest) (string, error) {
	id := instanceID(csr.URIs, csr.DNSNames)
	if id == "" {
		return "", errors.New("InstanceId cannot be empty")
	}
	if !isPathElement(id) {
		return "", fmt.Errorf("InstanceId %q is not a valid path element", id)
	}
	fqn := c.domain.Name + "." + c.service
	if !strings.EqualFold(csr.Subject.CommonName, fqn) {
		return "", errors.New("Unable to validate CSR common name")
	}
	if h, ok := uriItem(csr.URIs, uriHostname); ok && h != c.hostname {
		return "", fmt.Errorf("Instance/Uri hostname mismatch: %s vs. %s", c.hostname, h)
	}
	if len(c.hostCnames) > 0 && c.hostname == "" {
		return "", errors.New("Instance Host CNAME list provided without Hostname")
	}
	for _, name := range csr.DNSNames {
		if !c.dnsNameAllowed(strings.ToLower(name)) {
			return "", fmt.Errorf("%s does not end with provider/service configured suffix or hostname", name)
		}
	}
	spiffe, err := spiffeURI(csr.URIs)
	if err != nil {
		return "", err
	}
	if spiffe != "" {
		ns := cmp.Or(c.namespace, "default")
		allowed := []string{
			"spiffe://" + c.domain.Name + "/sa/" + c.service,
			"spiffe://" + c.trustDomain + "/ns/" + ns + "/sa/" + fqn,
		}
		if !containsFold(allowed, spiffe) {
			return "", errors.New("Unable to validate Service SPIFFE URI")
		}
	}
	return id, nil
}

// dnsNameAllowed is dnsSuffixCheck: a provider suffix, the domain's
// certDnsDomain, the instance hostname or one of its CNAMEs.
func (c *serviceCSR) dnsNameAllowed(name string) bool {
	for _, suffix := range c.provider.DNSSuffixes {
		if strings.HasSuffix(name, "."+suffix) {
			return true
		}
	}
	if d := c.domain.CertDNSDomain; d != "" && strings.HasSuffix(name, "."+d) {
		return true
	}
	if c.hostname != "" && strings.EqualFold(name, c.hostname) {
		return true
	}
	return containsFold(c.hostCnames, name)
}

// roleCSR is what a role certificate CSR is checked against
// (X509RoleCertRequest.validate and ZTSImpl.validateRoleCertificateRequest).
type roleCSR struct {
	domain      string
	role        string
	principal   string            // the effective principal (proxied-for, if any)
	proxyUser   string            // the original caller of a proxy request
	clientCert  *x509.Certificate // the caller's certificate
	emailSuffix string
	trustDomain string
}

// validate returns why csr is not acceptable, or nil.
func (c *roleCSR) validate(csr *x509.CertificateRequest) error {
	for _, check := range []func(*x509.CertificateRequest) error{c.validatePrincipal, c.validateProxy, c.validateSpiffe, c.validateInstance} {
		if err := check(csr); err != nil {
			return err
		}
	}
	return nil
}

// validatePrincipal checks the principal the CSR names: its principal
// URI, else (or also) its legacy email.
func (c *roleCSR) validatePrincipal(csr *x509.CertificateRequest) error {
	p, hasURI := uriItem(csr.URIs, uriPrincipal)
	if hasURI && !strings.EqualFold(p, c.principal) {
		return fmt.Errorf("role principal mismatch %s vs %s", c.principal, p)
	}
	if !hasURI || len(csr.EmailAddresses) > 0 {
		return c.validateEmail(csr.EmailAddresses)
	}
	return nil
}

// validateProxy checks the proxy user URI a proxied request must carry.
func (c *roleCSR) validateProxy(csr *x509.CertificateRequest) error {
	if c.proxyUser == "" {
		return nil
	}
	var proxies []string
	for _, u := range csr.URIs {
		if s := u.String(); strings.HasPrefix(strings.ToLower(s), uriProxyUser) {
			proxies = append(proxies, s)
		}
	}
	if len(proxies) != 1 || proxies[0] != uriProxyUser+c.proxyUser {
		return fmt.Errorf("CSR needs exactly one %s%s URI", uriProxyUser, c.proxyUser)
	}
	return nil
}

// validateSpiffe checks the role's SPIFFE URI, if the CSR has one.
func (c *roleCSR) validateSpiffe(csr *x509.CertificateRequest) error {
	spiffe, err := spiffeURI(csr.URIs)
	if err != nil || spiffe == "" {
		return err
	}
	allowed := []string{
		"spiffe://" + c.domain + "/ra/" + c.role,
		"spiffe://" + c.trustDomain + "/ns/" + c.domain + "/ra/" + c.role,
	}
	if !containsFold(allowed, spiffe) {
		return errors.New("invalid role SPIFFE URI")
	}
	return nil
}

// validateInstance checks that the hostname and instance id the CSR names
// are the client certificate's.
func (c *roleCSR) validateInstance(csr *x509.CertificateRequest) error {
	if h, ok := uriItem(csr.URIs, uriHostname); ok {
		if ch, _ := uriItem(c.clientCert.URIs, uriHostname); h != ch {
			return fmt.Errorf("hostname URI %q does not match the client certificate's %q", h, ch)
		}
	}
	if id := instanceID(csr.URIs, csr.DNSNames); id != "" {
		if cid := instanceID(c.clientCert.URIs, c.clientCert.DNSNames); id != cid {
			return fmt.Errorf("instance id %q does not match the client certificate's %q", id, cid)
		}
	}
	return nil
}

// validateEmail is the legacy principal form: exactly one SAN email
// <principal>@<something ending with the cert DNS suffix>.
func (c *roleCSR) validateEmail(emails []string) error {
	if len(emails) != 1 {
		return fmt.Errorf("csr has %d emails and no %s URI, want one", len(emails), uriPrincipal)
	}
	local, domain, _ := strings.Cut(strings.ToLower(emails[0]), "@")
	if local != c.principal {
		return fmt.Errorf("email %s does not name principal %s", emails[0], c.principal)
	}
	if domain != c.emailSuffix && !strings.HasSuffix(domain, "."+c.emailSuffix) {
		return fmt.Errorf("email %s does not end with %s", emails[0], c.emailSuffix)
	}
	return nil
}

// spiffeURI returns the CSR's single spiffe:// URI, if any.
func spiffeURI(uris []*url.URL) (string, error) {
	var found string
	for _, u := range uris {
		if s := u.String(); strings.HasPrefix(strings.ToLower(s), uriSpiffe) {
			if found != "" {
				return "", errors.New("multiple SPIFFE URIs in CSR")
			}
			found = s
		}
	}
	return found, nil
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return strings.EqualFold(e, s) })
}
