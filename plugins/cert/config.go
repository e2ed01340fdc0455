package cert

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
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
	// Circuit is how the agent backs off ZTS while it fails, for every
	// provider that calls it (see ztsclient.CircuitConfig).
	Circuit ztsclient.CircuitConfig `yaml:"circuit"`

	// dir is where relative paths start, the pipeline file's directory:
	// the file names the config is checked for are resolved ones.
	dir string
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

	// X509SVID makes every CSR ask for an X.509-SVID, whose one URI SAN is
	// the SPIFFE ID: the instance id goes in a DNS name and a role
	// certificate's principal in an email address, forms ZTS reads too.
	// SPIFFE libraries (go-spiffe, the spiffe provider's Workload API)
	// refuse a certificate with more than one URI SAN.
	X509SVID bool `yaml:"x509_svid"`
}

// SubjectConfig holds the optional subject attributes of every CSR.
type SubjectConfig struct {
	Country       string `yaml:"country"`
	Province      string `yaml:"province"`
	Locality      string `yaml:"locality"`
	StreetAddress string `yaml:"street_address"`
	PostalCode    string `yaml:"postal_code"`
	Organization  string `yaml:"organization"`
	// OrganizationalUnit is that of the role certificates; "" is the
	// identity certificate's. The identity's own OU is always the
	// instance provider.
	OrganizationalUnit string `yaml:"organizational_unit"`
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
	// in one file (key_mode), for readers that cannot read two files as
	// one.
	Combined string `yaml:"combined"`
	// CertChain writes the certificate followed by its signer, the
	// intermediates ZTS returns with it (leaf then chain, as
	// k8s-athenz-sia writes it), for readers that present the file as a
	// chain. Off by default: the certificate alone.
	CertChain bool `yaml:"cert_chain"`
	// KeyCopies and CertCopies are further files the key and the
	// certificate are written to (k8s-athenz-sia's further KEY_FILE and
	// CERT_FILE paths), in mode register. Each is replaced atomically on
	// its own, not together with its pair: readers that need the two to
	// match read key and cert.
	KeyCopies  []string `yaml:"key_copies"`
	CertCopies []string `yaml:"cert_copies"`
	Access     `yaml:",inline"`
}

// Access is who may read the files written: their user and group
// (names or numbers; "" the agent's), and the modes of keys and of
// certificates. As Athenz's siad has it, naming a group lets it read the
// keys: key_mode defaults to 0640 with a group, else 0600; cert_mode to
// 0644.
type Access struct {
	User     string        `yaml:"user"`
	Group    string        `yaml:"group"`
	KeyMode  fileperm.Mode `yaml:"key_mode"`
	CertMode fileperm.Mode `yaml:"cert_mode"`
}

// Validate checks the modes and that the user and group exist.
func (a Access) Validate() error {
	var check conf.Checker
	if _, _, err := (fileperm.Owner{User: a.User, Group: a.Group}).IDs(); err != nil {
		key := "user"
		if strings.HasPrefix(err.Error(), "group") {
			key = "group"
		}
		check.Errorf(key, "%v", err)
	}
	if err := fileperm.CheckMode(a.KeyMode, true); a.KeyMode != 0 && err != nil {
		check.Errorf("key_mode", "%v", err)
	}
	if err := fileperm.CheckMode(a.CertMode, false); a.CertMode != 0 && err != nil {
		check.Errorf("cert_mode", "%v", err)
	}
	return check.Err()
}

// over fills what a leaves unset from base (role certificates' from the
// identity's).
func (a Access) over(base Access) Access {
	if a.User == "" {
		a.User = base.User
	}
	if a.Group == "" {
		a.Group = base.Group
	}
	if a.KeyMode == 0 && a.Group == base.Group {
		a.KeyMode = base.KeyMode
	}
	if a.CertMode == 0 {
		a.CertMode = base.CertMode
	}
	return a
}

// perms resolves a, defaults filled in; a was validated.
func (a Access) perms() *filePerms {
	uid, gid, _ := fileperm.Owner{User: a.User, Group: a.Group}.IDs()
	key, cert := os.FileMode(a.KeyMode), os.FileMode(a.CertMode)
	if key == 0 {
		key = 0o600
		if a.Group != "" {
			key = 0o640
		}
	}
	if cert == 0 {
		cert = 0o644
	}
	return &filePerms{key: fileperm.Perm{Mode: key, UID: uid, GID: gid}, cert: fileperm.Perm{Mode: cert, UID: uid, GID: gid}}
}

// RoleCertsConfig asks for role certificates.
type RoleCertsConfig struct {
	Targets   []string `yaml:"targets"`    // "<domain>:role.<role>"
	Dir       string   `yaml:"dir"`        // default <files.dir>/rolecerts
	Delimiter string   `yaml:"delimiter"`  // between domain and role in file names
	KeyOutput bool     `yaml:"key_output"` // also write <dir>/<domain><delimiter><role>.key.pem
	// CombinedOutput also writes <dir>/<domain><delimiter><role>.combined.pem,
	// the key and the certificate in one file (key_mode).
	CombinedOutput bool `yaml:"combined_output"`
	// CertName and KeyName name the files with a template instead
	// (k8s-athenz-sia's ROLE_CERT_NAMING_FORMAT and
	// ROLE_CERT_KEY_NAMING_FORMAT): {{domain}}, {{role}} and
	// {{delimiter}} in a path, relative to the pipeline file's directory.
	// KeyName writes the role keys, as key_output does.
	CertName string `yaml:"cert_name"`
	KeyName  string `yaml:"key_name"`
	// IntermediateBundle names a ZTS CA bundle (GET /cacerts/<name>, e.g.
	// athenz), fetched before each round of role certificates and
	// appended to every role certificate file. "" appends none.
	IntermediateBundle string       `yaml:"intermediate_bundle"`
	Expiry             sdk.Duration `yaml:"expiry"` // requested lifetime; 0 is the ZTS default
	Concurrency        int          `yaml:"concurrency"`
	// Access defaults to that of files.
	Access `yaml:",inline"`
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
	InitMaxElapsed  sdk.Duration `yaml:"init_max_elapsed"`  // retries of the fetch in Init, init mode
	// FirstAttemptTimeout bounds how long Init waits for its one attempt
	// in refresh mode: Init does not retry there, the refresh loop does,
	// so that a ZTS that is down never holds the pipeline back. An attempt
	// still under way then is not abandoned: it goes on in the background,
	// each call bounded by Timeout, and the refresh loop waits for it, so
	// a short wait costs nothing. It only matters for a ZTS that does not
	// answer: one that answers, even with an error, ends the attempt at
	// once.
	FirstAttemptTimeout sdk.Duration `yaml:"first_attempt_timeout"`
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
			MinInterval:         sdk.Duration(10 * time.Second),
			Jitter:              0.1,
			RetryInitial:        sdk.Duration(5 * time.Second),
			RetryMax:            sdk.Duration(time.Minute),
			InitMaxElapsed:      sdk.Duration(time.Minute),
			FirstAttemptTimeout: sdk.Duration(500 * time.Millisecond),
		},
		Circuit: ztsclient.DefaultCircuit(),
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
	keyCopies   []string
	certCopies  []string
	roleDir     string
	roleNames   roleFileNames
	roles       []roleTarget
	attestation string // resolved attestation file
	ips         []net.IP
	idPerms     *filePerms // the identity's files
	rolePerms   *filePerms // the role certificates' files
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

// isDNSLabels reports whether s can lead a DNS name: labels of letters,
// digits and inner hyphens, 63 bytes at most, joined by dots. (Not a
// regular expression: its bounded repetitions would make every process of
// the agent compile a large program at start.)
func isDNSLabels(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(r rune) bool { return !isLabelRune(r) }) {
			return false
		}
	}
	return true
}

func isLabelRune(r rune) bool {
	return r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

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

// loadSettings decodes cfg over the defaults, validates it, reporting
// every problem at once with its file and line, and resolves its paths.
func loadSettings(cfg sdk.Config) (*settings, error) {
	c := defaultConfig()
	if cfg.File != "" {
		c.dir = filepath.Dir(cfg.File)
	}
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	return newSettings(c), nil
}

// newSettings resolves the paths of a valid config and parses its names.
func newSettings(c Config) *settings {
	f := c.files()
	s := &settings{
		Config:      c,
		existing:    c.Identity.Mode == modeExisting,
		keyFile:     f.key,
		certFile:    f.cert,
		caCertFile:  f.caCert,
		combined:    f.combined,
		keyCopies:   f.keyCopies,
		certCopies:  f.certCopies,
		roleDir:     f.roleDir,
		attestation: resolve(c.dir, c.Identity.AttestationFile),
	}
	s.idPerms = c.Files.perms()
	s.rolePerms = c.RoleCerts.Access.over(c.Files.Access).perms()
	s.CAFile = resolve(c.dir, c.CAFile)
	s.ips, s.Identity.ExtraDNS = c.Identity.sans()
	s.roles, _ = c.RoleCerts.targets()
	s.roleNames = c.RoleCerts.names(c.dir, f.roleDir)
	if s.RoleCerts.KeyName != "" {
		s.RoleCerts.KeyOutput = true
	}
	return s
}

// files are the files the provider writes (or in mode existing reads),
// resolved.
type files struct {
	key, cert, caCert, combined, roleDir string
	keyCopies, certCopies                []string // mode register only
}

// files resolves the config's files. The CA bundle and the combined file
// are only written in mode register: "" otherwise.
func (c *Config) files() files {
	dir := resolve(c.dir, c.Files.Dir)
	if dir == "" {
		dir = c.dir
	}
	f := files{key: resolve(dir, c.Files.Key), cert: resolve(dir, c.Files.Cert), roleDir: filepath.Join(dir, "rolecerts")}
	if register := c.Identity.Mode != modeExisting; register {
		if c.Files.CACert != "" { // ZTS hands out the CA with the identity
			f.caCert = resolve(dir, c.Files.CACert)
		}
		if c.Files.Combined != "" {
			f.combined = resolve(dir, c.Files.Combined)
		}
		for _, k := range c.Files.KeyCopies {
			f.keyCopies = append(f.keyCopies, resolve(dir, k))
		}
		for _, k := range c.Files.CertCopies {
			f.certCopies = append(f.certCopies, resolve(dir, k))
		}
	}
	if c.RoleCerts.Dir != "" {
		f.roleDir = resolve(c.dir, c.RoleCerts.Dir)
	}
	return f
}

// registerOnly is the problem of a setting of mode register in mode
// existing.
const registerOnly = "only with identity.mode register: in mode existing the identity is managed elsewhere"

// Validate checks what spans the blocks of the config: ZTS, whom mode
// register and role certificates need, and the files, which need names of
// their own. Each block has checked itself already.
func (c *Config) Validate() error {
	var check conf.Checker
	existing := c.Identity.Mode == modeExisting
	if !existing || len(c.RoleCerts.Targets) > 0 {
		if c.Endpoint == "" {
			check.Errorf("endpoint", "required: the ZTS URL, e.g. https://zts.example.com:4443/zts/v1")
		} else if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			check.Errorf("endpoint", "%q is not an https:// URL (ZTS serves TLS only)", c.Endpoint)
		}
	}
	if c.Timeout <= 0 {
		check.Errorf("timeout", "must be more than 0")
	}
	if existing {
		c.checkRegisterOnly(&check)
	}
	c.checkFiles(&check)
	return check.Err()
}

// checkRegisterOnly refuses, in mode existing, what only mode register
// does.
func (c *Config) checkRegisterOnly(check *conf.Checker) {
	for _, s := range []struct {
		path conf.Path
		set  bool
	}{
		{conf.P("key", "rotate"), c.Key.Rotate},
		{conf.P("files", "combined"), c.Files.Combined != ""},
		{conf.P("files", "cert_chain"), c.Files.CertChain},
		{conf.P("files", "key_copies"), len(c.Files.KeyCopies) > 0},
		{conf.P("files", "cert_copies"), len(c.Files.CertCopies) > 0},
	} {
		if s.set {
			check.ErrorfAt(s.path, registerOnly)
		}
	}
}

// checkFiles checks that the files the provider writes are distinct once
// resolved.
func (c *Config) checkFiles(check *conf.Checker) {
	f := c.files()
	switch {
	case f.key == f.cert:
		check.ErrorfAt(conf.P("files", "cert"), "the key and the certificate need files of their own")
	case c.Identity.Mode != modeExisting && filepath.Base(f.key) == filepath.Base(f.cert):
		check.ErrorfAt(conf.P("files", "cert"), "the key and the certificate need names of their own: both files are links into one directory")
	}
	if f.combined != "" && (f.combined == f.key || f.combined == f.cert || f.combined == f.caCert) {
		check.ErrorfAt(conf.P("files", "combined"), "needs a file of its own, not that of the key, the certificate or the CA bundle")
	}
	taken := map[string]bool{f.key: true, f.cert: true, f.caCert: true, f.combined: true}
	for _, copies := range []struct {
		key   string
		files []string
	}{{"key_copies", f.keyCopies}, {"cert_copies", f.certCopies}} {
		for i, name := range copies.files {
			if taken[name] {
				check.ErrorfAt(conf.P("files", copies.key, i), "%s is written already: a copy needs a file of its own", name)
			}
			taken[name] = true
		}
	}
}

// Validate checks what the mode needs, and the names the CSR asks for.
func (id IdentityConfig) Validate() error {
	var check conf.Checker
	switch id.Mode {
	case modeRegister:
		id.checkRegister(&check)
	case modeExisting:
		id.checkExisting(&check)
	default:
		check.Errorf("mode", "%q is not register or existing", id.Mode)
	}
	// Empty entries are skipped: they come from unset variables, such as
	// ${POD_IP} outside Kubernetes.
	for i, ip := range id.IPs {
		if ip != "" && net.ParseIP(ip) == nil {
			check.ErrorfAt(conf.P("ips", i), "%q is not an IP address", ip)
		}
	}
	for i, name := range id.ExtraDNS {
		if strings.ContainsAny(name, " /:") {
			check.ErrorfAt(conf.P("extra_dns", i), "%q is not a DNS name", name)
		}
	}
	if id.X509SVID && id.Mode == modeRegister && pathElementRE.MatchString(id.InstanceID) && !isDNSLabels(id.InstanceID) {
		check.Errorf("instance_id", "%q cannot be part of a DNS name, where identity.x509_svid puts it (letters, digits, - and . only)", id.InstanceID)
	}
	return check.Err()
}

// checkRegister checks that the instance to register is named, validly.
func (id IdentityConfig) checkRegister(check *conf.Checker) {
	for _, f := range []struct {
		key, value string
		re         *regexp.Regexp
		what       string
	}{
		{"provider", id.Provider, compoundNameRE, "a service name such as sys.auth.dev"},
		{"domain", id.Domain, compoundNameRE, "a domain name"},
		{"service", id.Service, simpleNameRE, "a simple name"},
		{"instance_id", id.InstanceID, pathElementRE, "a path element"},
	} {
		switch {
		case f.value == "":
			check.Errorf(f.key, "required with identity.mode register")
		case !f.re.MatchString(f.value):
			check.Errorf(f.key, "%q is not %s", f.value, f.what)
		}
	}
	if id.AttestationFile == "" {
		check.Errorf("attestation_file", "required with identity.mode register")
	}
	if id.DNSSuffix == "" {
		check.Errorf("dns_suffix", "required with identity.mode register")
	}
	if e := id.Expiry.Std(); e != 0 && e < time.Minute {
		check.Errorf("expiry", "ZTS counts in minutes: use 0 (the ZTS default) or at least 1m")
	}
}

// checkExisting checks that nothing is set that only mode register uses.
func (id IdentityConfig) checkExisting(check *conf.Checker) {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"provider", id.Provider != ""}, {"domain", id.Domain != ""},
		{"service", id.Service != ""}, {"instance_id", id.InstanceID != ""},
		{"attestation_file", id.AttestationFile != ""}, {"delete_on_shutdown", id.DeleteOnShutdown},
		{"extra_dns", len(id.ExtraDNS) > 0}, {"expiry", id.Expiry != 0},
	} {
		if f.set {
			check.Errorf(f.key, registerOnly)
		}
	}
}

// sans returns the IP addresses and the further DNS names the CSR asks
// for, without the empty entries and those that are not one.
func (id IdentityConfig) sans() (ips []net.IP, dns []string) {
	for _, ip := range id.IPs {
		if parsed := net.ParseIP(ip); parsed != nil {
			ips = append(ips, parsed)
		}
	}
	for _, name := range id.ExtraDNS {
		if name != "" && !strings.ContainsAny(name, " /:") {
			dns = append(dns, name)
		}
	}
	return ips, dns
}

// Validate checks the key type and size, and sets the type's default
// size when none is set.
func (k *KeyConfig) Validate() error {
	var check conf.Checker
	switch {
	case k.Type == keyRSA && k.Bits == 0:
		k.Bits = 2048
	case k.Type == keyRSA && k.Bits != 2048 && k.Bits != 3072 && k.Bits != 4096:
		check.Errorf("bits", "an RSA key has 2048, 3072 or 4096 bits, not %d", k.Bits)
	case k.Type == keyECDSA && k.Bits == 0:
		k.Bits = 256
	case k.Type == keyECDSA && k.Bits != 256:
		check.Errorf("bits", "an ECDSA key is P-256 (256 bits), not %d", k.Bits)
	case k.Type != keyRSA && k.Type != keyECDSA:
		check.Errorf("type", "%q is not rsa or ecdsa", k.Type)
	}
	return check.Err()
}

// Validate checks that the key and the certificate are named.
func (f FilesConfig) Validate() error {
	var check conf.Checker
	if f.Key == "" {
		check.Errorf("key", "required")
	}
	if f.Cert == "" {
		check.Errorf("cert", "required")
	}
	return check.Err()
}

// Validate checks the role certificates asked for.
func (rc RoleCertsConfig) Validate() error {
	var check conf.Checker
	if rc.Delimiter == "" || strings.ContainsRune(rc.Delimiter, filepath.Separator) {
		check.Errorf("delimiter", "%q cannot separate domain and role in a file name", rc.Delimiter)
	}
	_, errs := rc.targets()
	for i, err := range errs {
		if err != nil {
			check.ErrorfAt(conf.P("targets", i), "%v", err)
		}
	}
	rc.checkNames(&check)
	if rc.IntermediateBundle != "" && !simpleNameRE.MatchString(rc.IntermediateBundle) {
		check.Errorf("intermediate_bundle", "%q is not the name of a ZTS CA bundle (a simple name, e.g. athenz)", rc.IntermediateBundle)
	}
	if rc.Concurrency < 1 || rc.Concurrency > 64 {
		check.Errorf("concurrency", "must be between 1 and 64, not %d", rc.Concurrency)
	}
	if e := rc.Expiry.Std(); e != 0 && e < time.Minute {
		check.Errorf("expiry", "ZTS counts in minutes: use 0 (the ZTS default) or at least 1m")
	}
	return check.Err()
}

// targets parses the targets, each once: errs[i] says why Targets[i] is
// left out, if it is.
func (rc RoleCertsConfig) targets() (roles []roleTarget, errs []error) {
	errs = make([]error, len(rc.Targets))
	seen := make(map[roleTarget]bool)
	for i, t := range rc.Targets {
		rt, err := parseRoleTarget(t)
		switch {
		case err != nil:
			errs[i] = err
		case seen[rt]:
			errs[i] = fmt.Errorf("%s is listed twice", rt)
		default:
			seen[rt] = true
			roles = append(roles, rt)
		}
	}
	return roles, errs
}

// Validate checks the refresh schedule and the retries.
func (r RefreshConfig) Validate() error {
	var check conf.Checker
	if r.MinInterval < sdk.Duration(10*time.Millisecond) {
		check.Errorf("min_interval", "must be at least 10ms")
	}
	if r.Interval != 0 && r.Interval < r.MinInterval {
		check.Errorf("interval", "%v is shorter than refresh.min_interval (%v)", r.Interval.Std(), r.MinInterval.Std())
	}
	if r.Jitter < 0 || r.Jitter >= 1 {
		check.Errorf("jitter", "must be at least 0 and less than 1, not %v", r.Jitter)
	}
	if r.RetryInitial <= 0 {
		check.Errorf("retry_initial", "must be more than 0")
	}
	if r.RetryMax < r.RetryInitial {
		check.Errorf("retry_max", "%v is shorter than refresh.retry_initial (%v)", r.RetryMax.Std(), r.RetryInitial.Std())
	}
	if r.InitMaxElapsed <= 0 {
		check.Errorf("init_max_elapsed", "must be more than 0")
	}
	if r.FirstAttemptTimeout <= 0 {
		check.Errorf("first_attempt_timeout", "must be more than 0")
	}
	return check.Err()
}

// resolve makes path absolute against base, unless it already is.
func resolve(base, path string) string {
	if path == "" || filepath.IsAbs(path) || base == "" {
		return path
	}
	return filepath.Join(base, path)
}

// roleCertFile and roleKeyFile follow k8s-athenz-sia's ROLECERT_DIR naming,
// <dir>/<domain><delimiter><role>.cert.pem and .key.pem, unless templates
// name them (role_certs.cert_name, key_name).
func (s *settings) roleCertFile(t roleTarget) string {
	return s.roleNames.cert(t, s.RoleCerts.Delimiter)
}

func (s *settings) roleKeyFile(t roleTarget) string {
	if !s.RoleCerts.KeyOutput {
		return ""
	}
	return s.roleNames.key(t, s.RoleCerts.Delimiter)
}

// roleCombinedFile is the role's key and certificate in one file
// (role_certs.combined_output), or "".
func (s *settings) roleCombinedFile(t roleTarget) string {
	if !s.RoleCerts.CombinedOutput {
		return ""
	}
	return filepath.Join(s.roleDir, t.Domain+s.RoleCerts.Delimiter+t.Role+".combined.pem")
}
