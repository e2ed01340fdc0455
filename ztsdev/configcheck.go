package ztsdev

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// The config's types validate themselves (conf.Validator): each applies its
// defaults, lower-cases names as ZTS does on input, and reports every
// problem about its keys; what spans several values, duplicates and
// references, is the checks of the value that holds them all, which run
// after theirs.

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	// keyIDRE keeps the key id safe inside a role token (';' and '=' are
	// separators there).
	keyIDRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	// memberPrefixRE is what may precede the '*' of a prefix wildcard.
	memberPrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)
)

// Validate checks that provider and domain names are unique and that every
// launch provider is configured.
func (c *Config) Validate() error {
	var check conf.Checker
	providers := make(map[string]bool, len(c.Providers))
	for i, p := range c.Providers {
		if p.Name != "" && providers[p.Name] {
			check.ErrorfAt(conf.P("providers", i, "name"), "duplicate provider %q", p.Name)
		}
		providers[p.Name] = true
	}
	domains := make(map[string]bool, len(c.Domains))
	for i, d := range c.Domains {
		if d.Name != "" && domains[d.Name] {
			check.ErrorfAt(conf.P("domains", i, "name"), "duplicate domain %q", d.Name)
		}
		domains[d.Name] = true
		for j, s := range d.Services {
			for k, p := range s.LaunchProviders {
				if !providers[p] {
					check.ErrorfAt(conf.P("domains", i, "services", j, "launchProviders", k), "launch provider %q is not configured under providers", p)
				}
			}
		}
	}
	return check.Err()
}

// Validate applies the server defaults and checks the settings.
func (s *ServerConfig) Validate() error {
	s.applyDefaults()
	var check conf.Checker
	s.Hostname = strings.ToLower(s.Hostname)
	if s.Hostname != "" && net.ParseIP(s.Hostname) == nil && !hostnameRE.MatchString(s.Hostname) {
		check.Errorf("hostname", "hostname %q is not a host name or IP address", s.Hostname)
	}
	if s.Issuer != "" {
		s.Issuer = strings.TrimSuffix(s.Issuer, "/")
		u, err := url.Parse(s.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			check.Errorf("issuer", "issuer %q is not an https URL", s.Issuer)
		}
	}
	if !keyIDRE.MatchString(s.KeyID) {
		check.Errorf("keyId", "keyId %q may only contain letters, digits, '.', '_' and '-'", s.KeyID)
	}
	s.checkLifetimes(&check)
	s.SpiffeTrustDomain = strings.ToLower(s.SpiffeTrustDomain)
	s.CertDNSSuffix = strings.ToLower(strings.TrimPrefix(s.CertDNSSuffix, "."))
	for i, u := range s.AuthorizedProxyUsers {
		s.AuthorizedProxyUsers[i] = strings.ToLower(u)
		if !isEntityName(u) {
			check.ErrorfAt(conf.P("authorizedProxyUsers", i), "%q is not a valid principal name", u)
		}
	}
	return check.Err()
}

// checkLifetimes checks the token and certificate lifetimes.
func (s *ServerConfig) checkLifetimes(check *conf.Checker) {
	notNegative(check,
		field{"roleTokenDefaultSecs", s.RoleTokenDefaultSecs},
		field{"roleTokenMaxSecs", s.RoleTokenMaxSecs},
		field{"idTokenMaxSecs", s.IDTokenMaxSecs},
		field{"certDefaultMins", s.CertDefaultMins},
		field{"certMaxMins", s.CertMaxMins})
	if s.CertDefaultMins > s.CertMaxMins {
		check.Errorf("certDefaultMins", "certDefaultMins (%d) exceeds certMaxMins (%d)", s.CertDefaultMins, s.CertMaxMins)
	}
	if s.RoleTokenDefaultSecs > s.RoleTokenMaxSecs {
		check.Errorf("roleTokenDefaultSecs", "roleTokenDefaultSecs (%d) exceeds roleTokenMaxSecs (%d)", s.RoleTokenDefaultSecs, s.RoleTokenMaxSecs)
	}
}

// field is a number and its key.
type field struct {
	key   string
	value int
}

// notNegative reports each of fields that is negative.
func notNegative(check *conf.Checker, fields ...field) {
	for _, f := range fields {
		if f.value < 0 {
			check.Errorf(f.key, "%s must not be negative", f.key)
		}
	}
}

// checkName checks the name of a what (domain, service, ...): there, and
// valid, or its name is invalid, which says how.
func checkName(check *conf.Checker, what, name string, valid func(string) bool, invalid string) {
	switch {
	case name == "":
		check.Errorf("", "%s needs a name", what)
	case !valid(name):
		check.Errorf("name", "%s name %q %s", what, name, invalid)
	}
}

// unique reports each valid name of a list (key) that an earlier item
// already has, as a duplicate what of the domain.
func unique(check *conf.Checker, key, what, domain string, names []string, valid func(string) bool) {
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if valid(name) && seen[name] {
			check.ErrorfAt(conf.P(key, i, "name"), "duplicate %s %q in domain %q", what, name, domain)
		}
		seen[name] = true
	}
}

// Validate applies the provider's defaults and checks it.
func (p *Provider) Validate() error {
	p.applyDefaults()
	var check conf.Checker
	p.Name = strings.ToLower(p.Name)
	checkName(&check, "provider", p.Name, isServiceName, "is not a valid service name")
	switch p.Attestation {
	case AttestSecret:
		if p.Secret == "" {
			check.Errorf("", "provider %q: attestation secret needs a non-empty secret", p.Name)
		}
	case AttestAny:
	default:
		check.Errorf("attestation", "attestation %q is not one of %s, %s", p.Attestation, AttestSecret, AttestAny)
	}
	for i, s := range p.DNSSuffixes {
		p.DNSSuffixes[i] = strings.ToLower(strings.TrimPrefix(s, "."))
		if p.DNSSuffixes[i] == "" {
			check.ErrorfAt(conf.P("dnsSuffixes", i), "empty DNS suffix")
		}
	}
	notNegative(&check, field{"certExpiryMins", p.CertExpiryMins})
	return check.Err()
}

// Validate checks the domain; its services and roles have checked
// themselves, but not that their names are unique.
func (d *Domain) Validate() error {
	var check conf.Checker
	d.Name = strings.ToLower(d.Name)
	checkName(&check, "domain", d.Name, isDomainName, "is not valid")
	notNegative(&check,
		field{"tokenExpiryMins", d.TokenExpiryMins},
		field{"roleCertExpiryMins", d.RoleCertExpiryMins},
		field{"serviceCertExpiryMins", d.ServiceCertExpiryMins})
	d.CertDNSDomain = strings.ToLower(strings.TrimPrefix(d.CertDNSDomain, "."))
	services := make([]string, len(d.Services))
	for i, s := range d.Services {
		services[i] = s.Name
	}
	unique(&check, "services", "service", d.Name, services, isSimpleName)
	roles := make([]string, len(d.Roles))
	for i, r := range d.Roles {
		roles[i] = r.Name
	}
	unique(&check, "roles", "role", d.Name, roles, isEntityName)
	return check.Err()
}

// Validate checks the service's name and lower-cases its launch providers;
// the config checks that they are configured.
func (s *Service) Validate() error {
	var check conf.Checker
	s.Name = strings.ToLower(s.Name)
	checkName(&check, "service", s.Name, isSimpleName, "is not a simple name")
	for j, p := range s.LaunchProviders {
		s.LaunchProviders[j] = strings.ToLower(p)
	}
	return check.Err()
}

// Validate checks the role; its members have checked themselves.
func (r *Role) Validate() error {
	var check conf.Checker
	r.Name = strings.ToLower(r.Name)
	checkName(&check, "role", r.Name, isEntityName, "is not valid")
	notNegative(&check, field{"tokenExpiryMins", r.TokenExpiryMins}, field{"certExpiryMins", r.CertExpiryMins})
	return check.Err()
}

// Validate lower-cases the member and checks it is one.
func (m *Member) Validate() error {
	m.Name = strings.ToLower(m.Name)
	if !validMember(m.Name) {
		var check conf.Checker
		check.Errorf("", "member %q is not a principal, \"*\" or a prefix wildcard like \"sports.*\"", m.Name)
		return check.Err()
	}
	return nil
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

// Validate normalises the rule and checks it.
func (f *Fault) Validate() error {
	var check conf.Checker
	f.Operation = strings.ToLower(f.Operation)
	if f.Operation == "*" {
		f.Operation = ""
	}
	if f.Operation != "" && !slices.Contains(Operations(), f.Operation) {
		check.Errorf("operation", "unknown operation %q (one of %s, or * for all)", f.Operation, strings.Join(Operations(), ", "))
	}
	f.Domain = strings.ToLower(f.Domain)
	if f.Domain != "" && !isDomainName(f.Domain) {
		check.Errorf("domain", "domain %q is not valid", f.Domain)
	}
	f.checkEffect(&check)
	if f.Message == "" {
		f.Message = defaultFaultMessage
	}
	return check.Err()
}

// checkEffect checks what the rule does to a request it matches.
func (f *Fault) checkEffect(check *conf.Checker) {
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		check.Errorf("status", "status %d is not an HTTP error status (400-599)", f.Status)
	}
	if f.Latency < 0 {
		check.Errorf("latency", "latency must not be negative")
	}
	if f.Count < 0 {
		check.Errorf("count", "count must not be negative")
	}
	if f.RetryAfter < 0 || f.RetryAfter%time.Second != 0 || (f.RetryAfter > 0 && f.Status == 0) {
		check.Errorf("retry_after", "retry_after must be whole seconds, and comes with a status")
	}
	if f.Status == 0 && f.Latency == 0 {
		check.Errorf("", "a fault needs a status, a latency or both")
	}
}
