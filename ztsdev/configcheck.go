package ztsdev

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	// keyIDRE keeps the key id safe inside a role token (';' and '=' are
	// separators there).
	keyIDRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	// memberPrefixRE is what may precede the '*' of a prefix wildcard.
	memberPrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)
)

// normalize applies defaults, lower-cases names as ZTS does on input, and
// reports every semantic error it finds.
func (c *Config) normalize(v *validator) {
	c.Server.normalize(v, []any{"server"})

	providers := make(map[string]bool, len(c.Providers))
	for i := range c.Providers {
		path := []any{"providers", i}
		p := &c.Providers[i]
		p.normalize(v, path)
		if p.Name != "" && providers[p.Name] {
			v.errorf(at(path, "name"), "duplicate provider %q", p.Name)
		}
		providers[p.Name] = true
	}

	domains := make(map[string]bool, len(c.Domains))
	for i := range c.Domains {
		path := []any{"domains", i}
		d := &c.Domains[i]
		d.normalize(v, path, providers)
		if d.Name != "" && domains[d.Name] {
			v.errorf(at(path, "name"), "duplicate domain %q", d.Name)
		}
		domains[d.Name] = true
	}

	for i := range c.Faults {
		c.Faults[i].normalize(v, []any{"faults", i})
	}
}

func (s *ServerConfig) normalize(v *validator, path []any) {
	s.applyDefaults()
	s.Hostname = strings.ToLower(s.Hostname)
	if s.Hostname != "" && net.ParseIP(s.Hostname) == nil && !hostnameRE.MatchString(s.Hostname) {
		v.errorf(at(path, "hostname"), "hostname %q is not a host name or IP address", s.Hostname)
	}
	if s.Issuer != "" {
		s.Issuer = strings.TrimSuffix(s.Issuer, "/")
		u, err := url.Parse(s.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			v.errorf(at(path, "issuer"), "issuer %q is not an https URL", s.Issuer)
		}
	}
	if !keyIDRE.MatchString(s.KeyID) {
		v.errorf(at(path, "keyId"), "keyId %q may only contain letters, digits, '.', '_' and '-'", s.KeyID)
	}
	for _, f := range []struct {
		key string
		val int
	}{
		{"roleTokenDefaultSecs", s.RoleTokenDefaultSecs},
		{"roleTokenMaxSecs", s.RoleTokenMaxSecs},
		{"idTokenMaxSecs", s.IDTokenMaxSecs},
		{"certDefaultMins", s.CertDefaultMins},
		{"certMaxMins", s.CertMaxMins},
	} {
		if f.val < 0 {
			v.errorf(at(path, f.key), "%s must not be negative", f.key)
		}
	}
	if s.CertDefaultMins > s.CertMaxMins {
		v.errorf(at(path, "certDefaultMins"), "certDefaultMins (%d) exceeds certMaxMins (%d)", s.CertDefaultMins, s.CertMaxMins)
	}
	if s.RoleTokenDefaultSecs > s.RoleTokenMaxSecs {
		v.errorf(at(path, "roleTokenDefaultSecs"), "roleTokenDefaultSecs (%d) exceeds roleTokenMaxSecs (%d)", s.RoleTokenDefaultSecs, s.RoleTokenMaxSecs)
	}
	s.SpiffeTrustDomain = strings.ToLower(s.SpiffeTrustDomain)
	s.CertDNSSuffix = strings.ToLower(strings.TrimPrefix(s.CertDNSSuffix, "."))
	for i, u := range s.AuthorizedProxyUsers {
		s.AuthorizedProxyUsers[i] = strings.ToLower(u)
		if !isEntityName(u) {
			v.errorf(at(path, "authorizedProxyUsers", i), "%q is not a valid principal name", u)
		}
	}
}

func (p *Provider) normalize(v *validator, path []any) {
	p.applyDefaults()
	p.Name = strings.ToLower(p.Name)
	switch {
	case p.Name == "":
		v.errorf(path, "provider needs a name")
	case !isServiceName(p.Name):
		v.errorf(at(path, "name"), "provider name %q is not a valid service name", p.Name)
	}
	switch p.Attestation {
	case AttestSecret:
		if p.Secret == "" {
			v.errorf(path, "provider %q: attestation secret needs a non-empty secret", p.Name)
		}
	case AttestAny:
	default:
		v.errorf(at(path, "attestation"), "attestation %q is not one of %s, %s", p.Attestation, AttestSecret, AttestAny)
	}
	for i, s := range p.DNSSuffixes {
		p.DNSSuffixes[i] = strings.ToLower(strings.TrimPrefix(s, "."))
		if p.DNSSuffixes[i] == "" {
			v.errorf(at(path, "dnsSuffixes", i), "empty DNS suffix")
		}
	}
	if p.CertExpiryMins < 0 {
		v.errorf(at(path, "certExpiryMins"), "certExpiryMins must not be negative")
	}
}

func (d *Domain) normalize(v *validator, path []any, providers map[string]bool) {
	d.Name = strings.ToLower(d.Name)
	switch {
	case d.Name == "":
		v.errorf(path, "domain needs a name")
	case !isDomainName(d.Name):
		v.errorf(at(path, "name"), "domain name %q is not valid", d.Name)
	}
	for _, f := range []struct {
		key string
		val int
	}{
		{"tokenExpiryMins", d.TokenExpiryMins},
		{"roleCertExpiryMins", d.RoleCertExpiryMins},
		{"serviceCertExpiryMins", d.ServiceCertExpiryMins},
	} {
		if f.val < 0 {
			v.errorf(at(path, f.key), "%s must not be negative", f.key)
		}
	}
	d.CertDNSDomain = strings.ToLower(strings.TrimPrefix(d.CertDNSDomain, "."))

	services := make(map[string]bool, len(d.Services))
	for i := range d.Services {
		sp := at(path, "services", i)
		s := &d.Services[i]
		s.Name = strings.ToLower(s.Name)
		switch {
		case s.Name == "":
			v.errorf(sp, "service needs a name")
		case !isSimpleName(s.Name):
			v.errorf(at(sp, "name"), "service name %q is not a simple name", s.Name)
		case services[s.Name]:
			v.errorf(at(sp, "name"), "duplicate service %q in domain %q", s.Name, d.Name)
		}
		services[s.Name] = true
		for j, p := range s.LaunchProviders {
			s.LaunchProviders[j] = strings.ToLower(p)
			if !providers[s.LaunchProviders[j]] {
				v.errorf(at(sp, "launchProviders", j), "launch provider %q is not configured under providers", p)
			}
		}
	}

	roles := make(map[string]bool, len(d.Roles))
	for i := range d.Roles {
		rp := at(path, "roles", i)
		r := &d.Roles[i]
		r.Name = strings.ToLower(r.Name)
		switch {
		case r.Name == "":
			v.errorf(rp, "role needs a name")
		case !isEntityName(r.Name):
			v.errorf(at(rp, "name"), "role name %q is not valid", r.Name)
		case roles[r.Name]:
			v.errorf(at(rp, "name"), "duplicate role %q in domain %q", r.Name, d.Name)
		}
		roles[r.Name] = true
		if r.TokenExpiryMins < 0 {
			v.errorf(at(rp, "tokenExpiryMins"), "tokenExpiryMins must not be negative")
		}
		if r.CertExpiryMins < 0 {
			v.errorf(at(rp, "certExpiryMins"), "certExpiryMins must not be negative")
		}
		for j := range r.Members {
			m := &r.Members[j]
			m.Name = strings.ToLower(m.Name)
			if !validMember(m.Name) {
				v.errorf(at(rp, "members", j), "member %q is not a principal, \"*\" or a prefix wildcard like \"sports.*\"", m.Name)
			}
		}
	}
}

func validMember(name string) bool {
	if name == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(name, "*"); ok {
		return memberPrefixRE.MatchString(prefix)
	}
	return isEntityName(name)
}

func (f *Fault) normalize(v *validator, path []any) {
	f.Operation = strings.ToLower(f.Operation)
	if f.Operation == "*" {
		f.Operation = ""
	}
	if f.Operation != "" && !slices.Contains(Operations(), f.Operation) {
		v.errorf(at(path, "operation"), "unknown operation %q (one of %s, or * for all)", f.Operation, strings.Join(Operations(), ", "))
	}
	f.Domain = strings.ToLower(f.Domain)
	if f.Domain != "" && !isDomainName(f.Domain) {
		v.errorf(at(path, "domain"), "domain %q is not valid", f.Domain)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		v.errorf(at(path, "status"), "status %d is not an HTTP error status (400-599)", f.Status)
	}
	if f.Latency < 0 {
		v.errorf(at(path, "latency"), "latency must not be negative")
	}
	if f.Count < 0 {
		v.errorf(at(path, "count"), "count must not be negative")
	}
	if f.Status == 0 && f.Latency == 0 {
		v.errorf(path, "a fault needs a status, a latency or both")
	}
	if f.Message == "" {
		f.Message = defaultFaultMessage
	}
}
