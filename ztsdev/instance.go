package ztsdev

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/ardielle/ardielle-go/rdl"
)

// register is PostInstanceRegisterInformation: POST /instance.
func (s *Server) register(_ context.Context, rq *request) (*response, *apiError) {
	var info zts.InstanceRegisterInformation
	if e := decodeBody(rq.body, &info, "InstanceRegisterInformation"); e != nil {
		return nil, e
	}
	provider := strings.ToLower(string(info.Provider))
	domain := strings.ToLower(string(info.Domain))
	service := strings.ToLower(string(info.Service))

	l, e := rq.st.authorizeLaunch(provider, domain, service)
	if e != nil {
		return nil, e
	}
	csr, err := parseCSR(info.Csr)
	if err != nil {
		return nil, badRequest("unable to parse PKCS10 CSR: %v", err)
	}
	check := l.csrCheck(rq.st, string(info.Hostname), info.HostCnames, string(info.Namespace))
	id, err := check.validate(csr)
	if err != nil {
		return nil, badRequest("CSR validation failed - %v", err)
	}
	if err := l.provider.confirm(info.AttestationData); err != nil {
		return nil, forbidden("unable to verify attestation data: %v", err)
	}

	validity := l.certValidity(rq.st, info.ExpiryTime)
	cert, certPEM, err := s.keys.issue(csr, usageClientServer, validity, rq.now)
	if err != nil {
		return nil, serverError("unable to generate identity certificate: %v", err)
	}
	name := domain + "." + service
	if *l.provider.CertRefresh {
		rec := &certRecord{
			Provider: provider, InstanceID: id, Service: name,
			CurrentSerial: cert.SerialNumber.String(), CurrentIP: rq.clientIP(),
			Hostname: string(info.Hostname), Expiry: cert.NotAfter, Updated: rq.now,
		}
		err := s.records.update(rec.key(), func(*certRecord) (*certRecord, error) { return rec, nil })
		if err != nil {
			s.log.Error("storing cert record", "provider", provider, "service", name, "instance_id", id, "error", err)
			return nil, serverError("unable to update cert db")
		}
	}
	s.log.Info("registered instance", "provider", provider, "service", name, "instance_id", id,
		"serial", cert.SerialNumber.String(), "expiry", cert.NotAfter)

	return &response{
		status:   http.StatusCreated,
		body:     s.instanceIdentity(rq.st, provider, name, id, certPEM, info.AthenzJWK, info.AthenzJWKModified),
		location: fmt.Sprintf("/zts/v1/instance/%s/%s/%s/%s", provider, domain, service, id),
	}, nil
}

// refresh is PostInstanceRefreshInformation:
// POST /instance/{provider}/{domain}/{service}/{instanceId}.
func (s *Server) refresh(_ context.Context, rq *request) (*response, *apiError) {
	provider, domain, service, id, e := instancePath(rq)
	if e != nil {
		return nil, e
	}
	var info zts.InstanceRefreshInformation
	if e := decodeBody(rq.body, &info, "InstanceRefreshInformation"); e != nil {
		return nil, e
	}
	l, csr, e := checkRefresh(rq, provider, domain, service, id, &info)
	if e != nil {
		return nil, e
	}

	name := domain + "." + service
	validity := l.certValidity(rq.st, info.ExpiryTime)
	cert, certPEM, err := s.keys.issue(csr, usageClientServer, validity, rq.now)
	if err != nil {
		return nil, serverError("unable to generate identity certificate: %v", err)
	}
	if *l.provider.CertRefresh {
		if e := s.updateRecordOnRefresh(rq, recordKey{provider, id, name}, rq.principal.cert, cert, string(info.Hostname)); e != nil {
			return nil, e
		}
	}
	s.log.Info("refreshed instance", "provider", provider, "service", name, "instance_id", id,
		"serial", cert.SerialNumber.String(), "expiry", cert.NotAfter)
	return ok(s.instanceIdentity(rq.st, provider, name, id, certPEM, info.AthenzJWK, info.AthenzJWKModified)), nil
}

// checkRefresh checks a refresh as ZTS does, in its order: the caller is
// the instance's service and presents the instance's certificate, the
// provider may launch it, the CSR is valid and for the same instance,
// and the provider confirms the attestation again. It returns the launch
// and the CSR to issue from.
func checkRefresh(rq *request, provider, domain, service, id string, info *zts.InstanceRefreshInformation) (*launch, *x509.CertificateRequest, *apiError) {
	p := rq.principal
	if p.isRoleCert() {
		return nil, nil, forbidden("Role Identity not authorized for request")
	}
	dom := rq.st.domains[domain]
	if dom == nil {
		return nil, nil, notFound("Domain not found: %s", domain)
	}
	if dom.services[service] == nil {
		return nil, nil, badRequest("Service not registered in domain")
	}
	if info.Csr == "" {
		return nil, nil, badRequest("no csr provided")
	}
	name := domain + "." + service
	if p.name != name {
		return nil, nil, badRequest("Principal mismatch: %s vs. %s", name, p.name)
	}
	l, e := rq.st.authorizeLaunch(provider, domain, service)
	if e != nil {
		return nil, nil, e
	}
	csr, err := parseCSR(info.Csr)
	if err != nil {
		return nil, nil, badRequest("unable to parse PKCS10 CSR: %v", err)
	}
	check := l.csrCheck(rq.st, string(info.Hostname), info.HostCnames, string(info.Namespace))
	csrID, err := check.validate(csr)
	if err != nil {
		return nil, nil, badRequest("CSR validation failed - %v", err)
	}
	if csrID != id || instanceID(p.cert.URIs, p.cert.DNSNames) != id {
		return nil, nil, badRequest("CSR validation failed - instance id mismatch")
	}
	// Every refresh is confirmed by the provider again.
	if err := l.provider.confirm(info.AttestationData); err != nil {
		return nil, nil, forbidden("unable to verify attestation data: %v", err)
	}
	return l, csr, nil
}

// updateRecordOnRefresh applies the serial rules: the presented cert must
// be the current or the previous one; anything else revokes the record.
func (s *Server) updateRecordOnRefresh(rq *request, k recordKey, presented, issued *x509.Certificate, hostname string) *apiError {
	serial := presented.SerialNumber.String()
	err := s.records.update(k, func(cur *certRecord) (*certRecord, error) {
		if cur == nil {
			return nil, forbidden("Unable to find certificate record")
		}
		if cur.Service != k.service {
			return nil, badRequest("service name mismatch")
		}
		switch serial {
		case cur.CurrentSerial:
			cur.PrevSerial, cur.PrevIP = cur.CurrentSerial, cur.CurrentIP
		case cur.PrevSerial:
		default:
			s.log.Warn("revoking cert record: presented serial is neither current nor previous",
				"provider", k.provider, "service", k.service, "instance_id", k.instanceID, "serial", serial)
			cur.CurrentSerial, cur.PrevSerial, cur.Updated = revokedSerial, revokedSerial, rq.now
			return cur, forbidden("Certificate revoked")
		}
		cur.CurrentSerial, cur.CurrentIP = issued.SerialNumber.String(), rq.clientIP()
		cur.Hostname, cur.Expiry, cur.Updated = hostname, issued.NotAfter, rq.now
		return cur, nil
	})
	if err == nil {
		return nil
	}
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	s.log.Error("storing cert record", "provider", k.provider, "service", k.service, "instance_id", k.instanceID, "error", err)
	return serverError("unable to update cert db")
}

// deleteInstance is DeleteInstanceIdentity:
// DELETE /instance/{provider}/{domain}/{service}/{instanceId}. ZTS allows
// the provider itself or a domain admin; zts-dev also lets the instance
// delete its own record, which is what SIA agents do on shutdown.
func (s *Server) deleteInstance(_ context.Context, rq *request) (*response, *apiError) {
	provider, domain, service, id, e := instancePath(rq)
	if e != nil {
		return nil, e
	}
	p := rq.principal
	if p.isRoleCert() {
		return nil, forbidden("Role Identity not authorized for request")
	}
	name := domain + "." + service
	allowed := p.name == provider || p.name == name
	if dom := rq.st.domains[domain]; !allowed && dom != nil {
		if admin := dom.roles["admin"]; admin != nil && admin.hasMember(p.name, rq.now) {
			allowed = true
		}
	}
	if !allowed {
		return nil, forbidden("principal not authorized to delete the requested instance record")
	}
	if err := s.records.delete(recordKey{provider, id, name}); err != nil {
		s.log.Error("deleting cert record", "provider", provider, "service", name, "instance_id", id, "error", err)
		return nil, serverError("unable to delete cert record")
	}
	s.log.Info("deleted instance", "provider", provider, "service", name, "instance_id", id)
	return &response{status: http.StatusNoContent}, nil
}

// launch is an authorized (provider, domain, service) triple.
type launch struct {
	provider *Provider
	domain   *domainIndex
	service  string
}

// authorizeLaunch checks, in ZTS's order, that the domain exists (404),
// the service is registered (400), the provider may launch it (403) and is
// known (400).
func (st *state) authorizeLaunch(provider, domain, service string) (*launch, *apiError) {
	dom := st.domains[domain]
	if dom == nil {
		return nil, notFound("Domain not found: %s", domain)
	}
	svc := dom.services[service]
	if svc == nil {
		return nil, badRequest("Service not registered in domain")
	}
	if !containsFold(svc.LaunchProviders, provider) {
		return nil, forbidden("provider '%s' not authorized to launch %s.%s instances", provider, domain, service)
	}
	prov := st.providers[provider]
	if prov == nil {
		return nil, badRequest("unable to get instance for provider")
	}
	return &launch{provider: prov, domain: dom, service: service}, nil
}

func (l *launch) csrCheck(st *state, hostname string, cnames []zts.DomainName, namespace string) *serviceCSR {
	c := &serviceCSR{
		domain: l.domain, service: l.service, provider: l.provider,
		hostname: strings.ToLower(hostname), namespace: namespace,
		trustDomain: st.cfg.Server.SpiffeTrustDomain,
	}
	for _, n := range cnames {
		c.hostCnames = append(c.hostCnames, strings.ToLower(string(n)))
	}
	return c
}

// certValidity is min(requested, provider cap), capped by the domain's
// serviceCertExpiryMins, then the signer default and maximum.
func (l *launch) certValidity(st *state, requested *int32) time.Duration {
	var mins int64
	if requested != nil && *requested > 0 {
		mins = int64(*requested)
	}
	if c := int64(l.provider.CertExpiryMins); c > 0 && (mins == 0 || c < mins) {
		mins = c
	}
	if c := int64(l.domain.ServiceCertExpiryMins); c > 0 && (mins == 0 || c < mins) {
		mins = c
	}
	return certValidity(&st.cfg.Server, mins)
}

// confirm is the dev provider's confirmInstance/refreshInstance.
// Surrounding whitespace is ignored: attestation data is usually read from a
// file that ends with a newline.
func (p *Provider) confirm(data string) error {
	switch p.Attestation {
	case AttestAny:
		return nil
	case AttestSecret:
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(data)), []byte(p.Secret)) == 1 {
			return nil
		}
		return fmt.Errorf("attestation data does not match the secret of provider %s", p.Name)
	}
	return fmt.Errorf("provider %s has unknown attestation mode %q", p.Name, p.Attestation)
}

// instanceIdentity builds the register/refresh response. The athenzJWK
// config is included when asked for and the client's copy is older than the
// signing key.
func (s *Server) instanceIdentity(st *state, provider, name, id, certPEM string, wantJWK *bool, modified *rdl.Timestamp) *zts.InstanceIdentity {
	ident := &zts.InstanceIdentity{
		Provider:              zts.ServiceName(provider),
		Name:                  zts.ServiceName(name),
		InstanceId:            zts.PathElement(id),
		X509Certificate:       certPEM,
		X509CertificateSigner: string(s.keys.caPEM),
	}
	keyTime := s.keys.signingKeyTime.UTC().Truncate(time.Millisecond)
	if wantJWK != nil && *wantJWK && (modified == nil || modified.IsZero() || modified.Before(keyTime)) {
		ts := rdl.NewTimestamp(keyTime)
		ident.AthenzJWK = &zts.AthenzJWKConfig{
			Zms:      &zts.JWKList{Keys: []*zts.JWK{}},
			Zts:      s.jwkList(st, true),
			Modified: &ts,
		}
	}
	return ident
}

// instancePath validates and lower-cases the refresh/delete path.
func instancePath(rq *request) (provider, domain, service, id string, e *apiError) {
	provider = strings.ToLower(rq.PathValue("provider"))
	domain = strings.ToLower(rq.PathValue("domain"))
	service = strings.ToLower(rq.PathValue("service"))
	id = rq.PathValue("instanceId")
	switch {
	case !isServiceName(provider):
		e = badRequest("Invalid ServiceName error: provider %q", provider)
	case !isDomainName(domain):
		e = badRequest("Invalid DomainName error: domain %q", domain)
	case !isSimpleName(service):
		e = badRequest("Invalid SimpleName error: service %q", service)
	case !isPathElement(id):
		e = badRequest("Invalid PathElement error: instanceId %q", id)
	}
	return provider, domain, service, id, e
}

// decodeBody decodes a JSON request with the official client's model type,
// whose UnmarshalJSON runs the RDL validation, as ZTS's schema check does.
func decodeBody[T any](body []byte, v *T, typeName string) *apiError {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return badRequest("Missing or malformed %s", typeName)
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return badRequest("Invalid %s error: %v", typeName, err)
	}
	return nil
}

// registerDomain is the domain of a register request, for fault matching.
func registerDomain(rq *request) string {
	var v struct {
		Domain string `json:"domain"`
	}
	if json.Unmarshal(rq.body, &v) != nil {
		return ""
	}
	return strings.ToLower(v.Domain)
}
