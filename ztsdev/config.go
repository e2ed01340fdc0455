package ztsdev

import (
	"time"
)

// Config is the zts-dev data set: server settings, attestation providers,
// domains with their services and roles, and fault rules. It is read from
// YAML (see LoadConfig); every key is optional unless noted.
type Config struct {
	Server    ServerConfig `yaml:"server"`
	Providers []Provider   `yaml:"providers"`
	Domains   []Domain     `yaml:"domains"`
	Faults    []Fault      `yaml:"faults"`
}

// ServerConfig holds the settings that real ZTS reads from zts.properties.
type ServerConfig struct {
	// Hostname is the role token h= field, the host of the default issuer
	// and an extra server certificate SAN. Default: the listen host.
	Hostname string `yaml:"hostname"`
	// Issuer is the iss of JWTs and of the discovery documents. Default:
	// https://<hostname>:<port>/zts/v1, the URL clients use.
	Issuer string `yaml:"issuer"`
	// KeyID is the role token k= and the JWT kid. Default "0".
	KeyID string `yaml:"keyId"`

	RoleTokenDefaultSecs int `yaml:"roleTokenDefaultSecs"` // default 7200
	RoleTokenMaxSecs     int `yaml:"roleTokenMaxSecs"`     // default 2592000 (30 d)
	IDTokenMaxSecs       int `yaml:"idTokenMaxSecs"`       // default 43200 (12 h)
	CertDefaultMins      int `yaml:"certDefaultMins"`      // default 1440; real ZTS uses 43200
	CertMaxMins          int `yaml:"certMaxMins"`          // default 43200 (30 d)

	// OpenIDScope enables ID tokens for "openid" scopes. Real ZTS defaults
	// to false and then silently omits id_token; zts-dev defaults to true.
	OpenIDScope *bool `yaml:"openidScope"`
	// SpiffeTrustDomain is accepted in spiffe://<td>/ns/... SAN URIs.
	// Default "athenz.io".
	SpiffeTrustDomain string `yaml:"spiffeTrustDomain"`
	// CertDNSSuffix is the suffix a role certificate CSR's SAN email must
	// end with (athenz.zts.cert_dns_suffix). Default "athenz.cloud".
	CertDNSSuffix string `yaml:"certDnsSuffix"`
	// AuthorizedProxyUsers may ask for tokens and role certificates on
	// behalf of another principal (proxyForPrincipal).
	AuthorizedProxyUsers []string `yaml:"authorizedProxyUsers"`
}

// Attestation modes of a dev provider.
const (
	AttestSecret = "secret" // attestationData must equal Secret
	AttestAny    = "any"    // anything is accepted (explicit opt-in)
)

// Provider is a dev instance provider: it confirms instance register and
// refresh requests that name it.
type Provider struct {
	Name        string `yaml:"name"`        // required, e.g. sys.auth.dev
	Attestation string `yaml:"attestation"` // secret (default) | any
	Secret      string `yaml:"secret"`      // required for secret
	// DNSSuffixes are the suffixes CSR SAN DNS names may end with.
	// Default [zts.athenz.cloud].
	DNSSuffixes []string `yaml:"dnsSuffixes"`
	// CertRefresh false disables the cert-record (serial) checks on
	// refresh. Default true.
	CertRefresh *bool `yaml:"certRefresh"`
	// CertExpiryMins caps identity certificates this provider confirms.
	CertExpiryMins int `yaml:"certExpiryMins"`
}

// Domain is an Athenz domain with its services and roles.
type Domain struct {
	Name                  string    `yaml:"name"` // required
	TokenExpiryMins       int       `yaml:"tokenExpiryMins"`
	RoleCertExpiryMins    int       `yaml:"roleCertExpiryMins"`
	ServiceCertExpiryMins int       `yaml:"serviceCertExpiryMins"`
	CertDNSDomain         string    `yaml:"certDnsDomain"`
	Services              []Service `yaml:"services"`
	Roles                 []Role    `yaml:"roles"`
}

// Service is a service registered in a domain. LaunchProviders emulates
// the launch authorization on sys.auth:instance and {domain}:service.{name}.
type Service struct {
	Name            string   `yaml:"name"` // required, a SimpleName
	LaunchProviders []string `yaml:"launchProviders"`
}

// Role is a role with its members. A role-level expiry overrides the
// domain's.
type Role struct {
	Name            string   `yaml:"name"` // required
	TokenExpiryMins int      `yaml:"tokenExpiryMins"`
	CertExpiryMins  int      `yaml:"certExpiryMins"`
	Members         []Member `yaml:"members"`
}

// Member is a role member: an exact principal, "*" for everyone, or a
// prefix wildcard such as "sports.*". In YAML it is either a plain string or
// a mapping with name and expiration.
type Member struct {
	Name       string     `yaml:"name"`
	Expiration *time.Time `yaml:"expiration"`
}

// Fault is a fault injection rule. Rules are tried in order and the first
// active one that matches a request applies: it delays the request by
// Latency, then fails it with Status (if set) instead of processing it.
type Fault struct {
	// ID labels the rule in logs. Changing it re-arms a Count rule on
	// reload even if nothing else changed.
	ID string `yaml:"id"`
	// Operation is one of the Op* names, or empty / "*" for every one.
	Operation string `yaml:"operation"`
	// Domain restricts the rule to requests for that domain; empty means
	// any request, including those that name no domain.
	Domain string `yaml:"domain"`
	// Status is the HTTP status (400-599) to fail with; 0 only delays.
	Status int `yaml:"status"`
	// Message is the error message. Default "zts-dev injected fault".
	Message string `yaml:"message"`
	// Latency delays matching requests (e.g. "2s").
	Latency time.Duration `yaml:"latency"`
	// RetryAfter, with a Status, sends a Retry-After header of this many
	// whole seconds, as a ZTS shedding load would.
	RetryAfter time.Duration `yaml:"retry_after"`
	// Count limits the rule to the next N matching requests; 0 means
	// every request. A reload that changes the rule resets its count.
	Count int `yaml:"count"`
}

// Operation names for fault rules and request counters.
const (
	OpRegister     = "register"
	OpRefresh      = "refresh"
	OpDelete       = "delete"
	OpRoleCert     = "rolecert" // /rolecert and the legacy /domain/{d}/role/{r}/token
	OpRoleToken    = "roletoken"
	OpAccessToken  = "accesstoken"
	OpJWKS         = "jwks"
	OpOpenIDConfig = "openidconfig"
	OpOAuthConfig  = "oauthconfig"
	OpCACerts      = "cacerts"
	OpPublicKey    = "publickey"
	OpStatus       = "status"
)

// Operations lists every operation name, in route order.
func Operations() []string {
	return []string{OpRegister, OpRefresh, OpDelete, OpRoleCert, OpRoleToken, OpAccessToken,
		OpJWKS, OpOpenIDConfig, OpOAuthConfig, OpCACerts, OpPublicKey, OpStatus}
}

// Defaults applied by LoadConfig/ParseConfig.
const (
	defaultKeyID                = "0"
	defaultRoleTokenDefaultSecs = 7200
	defaultRoleTokenMaxSecs     = 30 * 24 * 3600
	defaultIDTokenMaxSecs       = 12 * 3600
	defaultCertDefaultMins      = 24 * 60
	defaultCertMaxMins          = 30 * 24 * 60
	defaultSpiffeTrustDomain    = "athenz.io"
	defaultCertDNSSuffix        = "athenz.cloud"
	defaultProviderDNSSuffix    = "zts.athenz.cloud"
	defaultFaultMessage         = "zts-dev injected fault"
)

func (s *ServerConfig) applyDefaults() {
	if s.KeyID == "" {
		s.KeyID = defaultKeyID
	}
	setDefault(&s.RoleTokenDefaultSecs, defaultRoleTokenDefaultSecs)
	setDefault(&s.RoleTokenMaxSecs, defaultRoleTokenMaxSecs)
	setDefault(&s.IDTokenMaxSecs, defaultIDTokenMaxSecs)
	setDefault(&s.CertDefaultMins, defaultCertDefaultMins)
	setDefault(&s.CertMaxMins, defaultCertMaxMins)
	if s.OpenIDScope == nil {
		t := true
		s.OpenIDScope = &t
	}
	if s.SpiffeTrustDomain == "" {
		s.SpiffeTrustDomain = defaultSpiffeTrustDomain
	}
	if s.CertDNSSuffix == "" {
		s.CertDNSSuffix = defaultCertDNSSuffix
	}
}

func (p *Provider) applyDefaults() {
	if p.Attestation == "" {
		p.Attestation = AttestSecret
	}
	if len(p.DNSSuffixes) == 0 {
		p.DNSSuffixes = []string{defaultProviderDNSSuffix}
	}
	if p.CertRefresh == nil {
		t := true
		p.CertRefresh = &t
	}
}

func setDefault(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}
