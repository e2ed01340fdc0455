package cert

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// Config is the provider's `config:` block; docs/cert.md is its reference.
type Config struct {
	// Endpoint is the ZTS base URL, including /zts/v1.
	Endpoint string `yaml:"endpoint"`
	// CAFile is the PEM bundle that verifies ZTS; empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one ZTS request, reading the response included.
	Timeout sdk.Duration `yaml:"timeout"`

	Identity  IdentityConfig  `yaml:"identity"`
	Key       KeyConfig       `yaml:"key"`
	Files     FilesConfig     `yaml:"files"`
	RoleCerts RoleCertsConfig `yaml:"role_certs"`
	Refresh   RefreshConfig   `yaml:"refresh"`
}

// IdentityConfig says where the identity certificate comes from.
type IdentityConfig struct {
	// Mode is "register" (ZTS issues the identity: register, then
	// refresh) or "existing" (a key and certificate managed elsewhere,
	// read from files.key and files.cert and reloaded when they change).
	Mode string `yaml:"mode"`

	// The instance, for mode register.
	Provider        string `yaml:"provider"`         // the instance provider, e.g. sys.auth.dev
	Domain          string `yaml:"domain"`           // Athenz domain
	Service         string `yaml:"service"`          // Athenz service
	InstanceID      string `yaml:"instance_id"`      // e.g. the pod UID
	AttestationFile string `yaml:"attestation_file"` // read at every register and refresh

	// What the identity CSR asks for.
	DNSSuffix string        `yaml:"dns_suffix"` // SAN DNS names end with it
	ExtraDNS  []string      `yaml:"extra_dns"`  // further SAN DNS names
	IPs       []string      `yaml:"ips"`        // SAN IP addresses, e.g. the pod IP
	Expiry    sdk.Duration  `yaml:"expiry"`     // requested lifetime; 0 is the ZTS default
	Subject   SubjectConfig `yaml:"subject"`    // CN is domain.service, OU the provider

	// DeleteOnShutdown deletes the instance record at ZTS when the
	// provider shuts down after a run (never after init mode, whose
	// identity a sidecar goes on refreshing).
	DeleteOnShutdown bool `yaml:"delete_on_shutdown"`
}

// SubjectConfig holds the optional subject attributes of every CSR.
type SubjectConfig struct {
	Country      string `yaml:"country"`
	Province     string `yaml:"province"`
	Locality     string `yaml:"locality"`
	Organization string `yaml:"organization"`
}

// KeyConfig is the private key policy.
type KeyConfig struct {
	Type   string `yaml:"type"`   // rsa or ecdsa
	Bits   int    `yaml:"bits"`   // rsa: 2048, 3072 or 4096; ecdsa: 256 (P-256)
	Rotate bool   `yaml:"rotate"` // a new key at every identity refresh
	// AllowInsecurePermissions takes a key file found on disk whatever
	// its mode and owner. Without it, a key others can read or replace is
	// refused (see keyfile.go).
	AllowInsecurePermissions bool `yaml:"allow_insecure_permissions"`
}

// FilesConfig names the files the provider writes (or, in mode existing,
// reads). Relative names are relative to Dir; a relative Dir is relative
// to the pipeline file's directory.
type FilesConfig struct {
	Dir    string `yaml:"dir"`
	Key    string `yaml:"key"`
	Cert   string `yaml:"cert"`
	CACert string `yaml:"ca_cert"` // "" writes no CA bundle
	// Combined, if set, is also written with the key and the certificate
	// in one file (0600), for readers that cannot read two files as one.
	Combined string `yaml:"combined"`
}

// RoleCertsConfig asks for role certificates.
type RoleCertsConfig struct {
	Targets   []string `yaml:"targets"`    // "<domain>:role.<role>"
	Dir       string   `yaml:"dir"`        // default <files.dir>/rolecerts
	Delimiter string   `yaml:"delimiter"`  // between domain and role in file names
	KeyOutput bool     `yaml:"key_output"` // also write <dir>/<domain><delimiter><role>.key.pem
	// CombinedOutput also writes <dir>/<domain><delimiter><role>.combined.pem,
	// the key and the certificate in one file (0600).
	CombinedOutput bool         `yaml:"combined_output"`
	Expiry         sdk.Duration `yaml:"expiry"` // requested lifetime; 0 is the ZTS default
	Concurrency    int          `yaml:"concurrency"`
}

// RefreshConfig is when credentials are refreshed and how failures are
// retried.
type RefreshConfig struct {
	// Interval refreshes every credential that often; 0 refreshes each at
	// half its remaining lifetime. Either way a credential is refreshed
	// by half its remaining lifetime.
	Interval sdk.Duration `yaml:"interval"`
	// MinInterval is the shortest wait between two refreshes, and the
	// wait before trying again a credential the provider does not have.
	MinInterval sdk.Duration `yaml:"min_interval"`
	// Jitter shortens each wait by a random fraction of up to this much.
	Jitter float64 `yaml:"jitter"`

	RetryInitial    sdk.Duration `yaml:"retry_initial"`
	RetryMax        sdk.Duration `yaml:"retry_max"`
	RetryMaxElapsed sdk.Duration `yaml:"retry_max_elapsed"` // 0: a quarter of the wait before the refresh
	InitMaxElapsed  sdk.Duration `yaml:"init_max_elapsed"`  // retries of the fetch in Init
}

// Identity modes.
const (
	modeRegister = "register"
	modeExisting = "existing"
)

// Key types.
const (
	keyRSA   = "rsa"
	keyECDSA = "ecdsa"
)

// defaultConfig holds the defaults; k8s-athenz-sia's conventional paths.
func defaultConfig() Config {
	return Config{
		Timeout: sdk.Duration(30 * time.Second),
		Identity: IdentityConfig{
			Mode:      modeRegister,
			DNSSuffix: "athenz.cloud",
		},
		Key: KeyConfig{Type: keyRSA},
		Files: FilesConfig{
			Dir:    "/var/run/athenz",
			Key:    "service.key.pem",
			Cert:   "service.cert.pem",
			CACert: "ca.cert.pem",
		},
		RoleCerts: RoleCertsConfig{
			Delimiter:   ":role.",
			Concurrency: 4,
		},
		Refresh: RefreshConfig{
			MinInterval:    sdk.Duration(10 * time.Second),
			Jitter:         0.1,
			RetryInitial:   sdk.Duration(5 * time.Second),
			RetryMax:       sdk.Duration(time.Minute),
			InitMaxElapsed: sdk.Duration(time.Minute),
		},
	}
}

// settings is a validated configuration with paths resolved.
type settings struct {
	Config
	existing    bool
	keyFile     string
	certFile    string
	caCertFile  string // "" when not written
	combined    string // files.combined resolved; "" when not written
	roleDir     string
	roles       []roleTarget
	attestation string // resolved attestation file
	ips         []net.IP
}

// roleTarget is one "<domain>:role.<role>" of role_certs.targets.
type roleTarget struct {
	Domain, Role string
}

func (t roleTarget) String() string { return t.Domain + roleSep + t.Role }

const roleSep = ":role."

// Athenz name patterns (core/zts/src/main/rdl/Names.tdl); ZTS refuses
// anything else, so catching it here saves a round trip and names the line.
var (
	simpleNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_-]*$`)
	compoundNameRE = regexp.MustCompile(`^([a-zA-Z0-9_][a-zA-Z0-9_-]*\.)*[a-zA-Z0-9_][a-zA-Z0-9_-]*$`)
	pathElementRE  = regexp.MustCompile(`^[a-zA-Z0-9-\._~=+@$,:]+$`)
)

// parseRoleTarget parses "<domain>:role.<role>".
func parseRoleTarget(s string) (roleTarget, error) {
	d, r, ok := strings.Cut(s, roleSep)
	if !ok {
		return roleTarget{}, fmt.Errorf("%q is not <domain>:role.<role>", s)
	}
	if !compoundNameRE.MatchString(d) {
		return roleTarget{}, fmt.Errorf("%q: domain %q is not a valid Athenz domain name", s, d)
	}
	if !compoundNameRE.MatchString(r) {
		return roleTarget{}, fmt.Errorf("%q: role %q is not a valid Athenz role name", s, r)
	}
	return roleTarget{Domain: strings.ToLower(d), Role: strings.ToLower(r)}, nil
}

// loadSettings decodes cfg over the defaults and validates it, reporting
// every problem at once with its file and line.
func loadSettings(cfg sdk.Config) (*settings, error) {
	c := defaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	s := &settings{Config: c, existing: c.Identity.Mode == modeExisting}
	var ps sdk.Problems
	bad := func(key, format string, args ...any) {
		var p *sdk.Problem
		if errors.As(cfg.Errorf(key, format, args...), &p) {
			ps = append(ps, p)
		}
	}

	id := &c.Identity
	switch id.Mode {
	case modeRegister:
		for _, f := range []struct {
			key, value string
			re         *regexp.Regexp
			what       string
		}{
			{"identity.provider", id.Provider, compoundNameRE, "a service name such as sys.auth.dev"},
			{"identity.domain", id.Domain, compoundNameRE, "a domain name"},
			{"identity.service", id.Service, simpleNameRE, "a simple name"},
			{"identity.instance_id", id.InstanceID, pathElementRE, "a path element"},
		} {
			switch {
			case f.value == "":
				bad(f.key, "required with identity.mode register")
			case !f.re.MatchString(f.value):
				bad(f.key, "%q is not %s", f.value, f.what)
			}
		}
		if id.AttestationFile == "" {
			bad("identity.attestation_file", "required with identity.mode register")
		}
		if id.DNSSuffix == "" {
			bad("identity.dns_suffix", "required with identity.mode register")
		}
		if e := id.Expiry.Std(); e != 0 && e < time.Minute {
			bad("identity.expiry", "ZTS counts in minutes: use 0 (the ZTS default) or at least 1m")
		}
	case modeExisting:
		for key, set := range map[string]bool{
			"identity.provider": id.Provider != "", "identity.domain": id.Domain != "",
			"identity.service": id.Service != "", "identity.instance_id": id.InstanceID != "",
			"identity.attestation_file": id.AttestationFile != "", "identity.delete_on_shutdown": id.DeleteOnShutdown,
			"identity.extra_dns": len(id.ExtraDNS) > 0, "identity.expiry": id.Expiry != 0,
			"key.rotate": c.Key.Rotate, "files.combined": c.Files.Combined != "",
		} {
			if set {
				bad(key, "only with identity.mode register: in mode existing the identity is managed elsewhere")
			}
		}
	default:
		bad("identity.mode", "%q is not register or existing", id.Mode)
	}
	// Empty entries are skipped: they come from unset variables, such as
	// ${POD_IP} outside Kubernetes.
	for i, ip := range id.IPs {
		if ip == "" {
			continue
		}
		parsed := net.ParseIP(ip)
		if parsed == nil {
			bad(fmt.Sprintf("identity.ips[%d]", i), "%q is not an IP address", ip)
			continue
		}
		s.ips = append(s.ips, parsed)
	}
	s.Identity.ExtraDNS = nil
	for i, name := range id.ExtraDNS {
		switch {
		case name == "":
		case strings.ContainsAny(name, " /:"):
			bad(fmt.Sprintf("identity.extra_dns[%d]", i), "%q is not a DNS name", name)
		default:
			s.Identity.ExtraDNS = append(s.Identity.ExtraDNS, name)
		}
	}

	switch c.Key.Type {
	case keyRSA:
		if c.Key.Bits == 0 {
			s.Key.Bits = 2048
		} else if c.Key.Bits != 2048 && c.Key.Bits != 3072 && c.Key.Bits != 4096 {
			bad("key.bits", "an RSA key has 2048, 3072 or 4096 bits, not %d", c.Key.Bits)
		}
	case keyECDSA:
		if c.Key.Bits == 0 {
			s.Key.Bits = 256
		} else if c.Key.Bits != 256 {
			bad("key.bits", "an ECDSA key is P-256 (256 bits), not %d", c.Key.Bits)
		}
	default:
		bad("key.type", "%q is not rsa or ecdsa", c.Key.Type)
	}

	roleNeedsZTS := len(c.RoleCerts.Targets) > 0
	if !s.existing || roleNeedsZTS {
		if c.Endpoint == "" {
			bad("endpoint", "required: the ZTS URL, e.g. https://zts.example.com:4443/zts/v1")
		} else if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("endpoint", "%q is not an https:// URL (ZTS serves TLS only)", c.Endpoint)
		}
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be more than 0")
	}

	base := ""
	if cfg.File != "" {
		base = filepath.Dir(cfg.File)
	}
	dir := resolve(base, c.Files.Dir)
	if dir == "" {
		dir = base
	}
	if c.Files.Key == "" {
		bad("files.key", "required")
	}
	if c.Files.Cert == "" {
		bad("files.cert", "required")
	}
	s.keyFile, s.certFile = resolve(dir, c.Files.Key), resolve(dir, c.Files.Cert)
	if c.Files.CACert != "" && !s.existing { // ZTS hands out the CA with the identity
		s.caCertFile = resolve(dir, c.Files.CACert)
	}
	if c.Files.Combined != "" && !s.existing {
		s.combined = resolve(dir, c.Files.Combined)
	}
	switch {
	case s.keyFile == s.certFile:
		bad("files.cert", "the key and the certificate need files of their own")
	case !s.existing && filepath.Base(s.keyFile) == filepath.Base(s.certFile):
		bad("files.cert", "the key and the certificate need names of their own: both files are links into one directory")
	}
	if s.combined != "" && (s.combined == s.keyFile || s.combined == s.certFile || s.combined == s.caCertFile) {
		bad("files.combined", "needs a file of its own, not that of the key, the certificate or the CA bundle")
	}
	s.attestation = resolve(base, id.AttestationFile)
	s.CAFile = resolve(base, c.CAFile)

	rc := &c.RoleCerts
	s.roleDir = filepath.Join(dir, "rolecerts")
	if rc.Dir != "" {
		s.roleDir = resolve(base, rc.Dir)
	}
	if rc.Delimiter == "" || strings.ContainsRune(rc.Delimiter, filepath.Separator) {
		bad("role_certs.delimiter", "%q cannot separate domain and role in a file name", rc.Delimiter)
	}
	seen := make(map[roleTarget]bool)
	for i, t := range rc.Targets {
		key := fmt.Sprintf("role_certs.targets[%d]", i)
		rt, err := parseRoleTarget(t)
		switch {
		case err != nil:
			bad(key, "%v", err)
		case seen[rt]:
			bad(key, "%s is listed twice", rt)
		default:
			seen[rt] = true
			s.roles = append(s.roles, rt)
		}
	}
	if rc.Concurrency < 1 || rc.Concurrency > 64 {
		bad("role_certs.concurrency", "must be between 1 and 64, not %d", rc.Concurrency)
	}
	if e := rc.Expiry.Std(); e != 0 && e < time.Minute {
		bad("role_certs.expiry", "ZTS counts in minutes: use 0 (the ZTS default) or at least 1m")
	}

	r := &c.Refresh
	if r.MinInterval < sdk.Duration(10*time.Millisecond) {
		bad("refresh.min_interval", "must be at least 10ms")
	}
	if r.Interval != 0 && r.Interval < r.MinInterval {
		bad("refresh.interval", "%v is shorter than refresh.min_interval (%v)", r.Interval.Std(), r.MinInterval.Std())
	}
	if r.Jitter < 0 || r.Jitter >= 1 {
		bad("refresh.jitter", "must be at least 0 and less than 1, not %v", r.Jitter)
	}
	if r.RetryInitial <= 0 {
		bad("refresh.retry_initial", "must be more than 0")
	}
	if r.RetryMax < r.RetryInitial {
		bad("refresh.retry_max", "%v is shorter than refresh.retry_initial (%v)", r.RetryMax.Std(), r.RetryInitial.Std())
	}
	if r.InitMaxElapsed <= 0 {
		bad("refresh.init_max_elapsed", "must be more than 0")
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve makes path absolute against base, unless it already is.
func resolve(base, path string) string {
	if path == "" || filepath.IsAbs(path) || base == "" {
		return path
	}
	return filepath.Join(base, path)
}

// roleCertFile and roleKeyFile follow k8s-athenz-sia's ROLECERT_DIR naming:
// <dir>/<domain><delimiter><role>.cert.pem and .key.pem.
func (s *settings) roleCertFile(t roleTarget) string {
	return filepath.Join(s.roleDir, t.Domain+s.RoleCerts.Delimiter+t.Role+".cert.pem")
}

func (s *settings) roleKeyFile(t roleTarget) string {
	if !s.RoleCerts.KeyOutput {
		return ""
	}
	return filepath.Join(s.roleDir, t.Domain+s.RoleCerts.Delimiter+t.Role+".key.pem")
}

// roleCombinedFile is the role's key and certificate in one file
// (role_certs.combined_output), or "".
func (s *settings) roleCombinedFile(t roleTarget) string {
	if !s.RoleCerts.CombinedOutput {
		return ""
	}
	return filepath.Join(s.roleDir, t.Domain+s.RoleCerts.Delimiter+t.Role+".combined.pem")
}
