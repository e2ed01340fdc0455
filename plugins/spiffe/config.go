package spiffe

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the provider's `config:` block; docs/spiffe.md is its
// reference.
type Config struct {
	// Socket is the Unix socket both APIs are served on.
	Socket string `yaml:"socket"`
	// Mode is the socket's file mode. Connecting needs write permission;
	// the allow list checks every caller whatever the mode.
	Mode SocketMode `yaml:"mode"`
	// Allow lists the callers, by the UID and primary GID the kernel
	// reports for the peer of the socket (SO_PEERCRED).
	Allow Allow `yaml:"allow"`
	// Files are the cert provider's, as its own config names them.
	Files Files `yaml:"files"`
	// RoleCerts are the role certificates served as further SVIDs.
	RoleCerts RoleCerts `yaml:"role_certs"`
	// TrustDomains are served the Athenz CA bundle besides those of the
	// SVIDs: the trust domains of peers in other Athenz domains.
	TrustDomains []string `yaml:"trust_domains"`
	// PollInterval is how often the files are checked for a change.
	PollInterval sdk.Duration `yaml:"poll_interval"`
	// SDS names the resources Envoy asks for, besides SPIFFE IDs and
	// trust domains.
	SDS SDS `yaml:"sds"`
	// MaxConnections bounds the connections open at once.
	MaxConnections int `yaml:"max_connections"`

	// dir is the pipeline file's directory, where relative paths start.
	dir string
}

// Allow is the allow list of callers: a caller is admitted when its UID is
// in UIDs or its primary GID in GIDs. With both empty, only the agent's
// own user is.
type Allow struct {
	UIDs []int `yaml:"uids"`
	GIDs []int `yaml:"gids"`
}

// Files name the cert provider's identity files, with its defaults.
type Files struct {
	Dir    string `yaml:"dir"`
	Key    string `yaml:"key"`
	Cert   string `yaml:"cert"`
	CACert string `yaml:"ca_cert"`
}

// RoleCerts name the cert provider's role certificates, with its
// defaults.
type RoleCerts struct {
	Targets   []string `yaml:"targets"`
	Dir       string   `yaml:"dir"`
	Delimiter string   `yaml:"delimiter"`
}

// SDS are the names of the resources that are not SPIFFE IDs, as SPIRE's
// agent names them, so that Envoy configurations written for it work.
type SDS struct {
	DefaultSVIDName   string `yaml:"default_svid_name"`
	DefaultBundleName string `yaml:"default_bundle_name"`
	AllBundlesName    string `yaml:"all_bundles_name"`
}

// SocketMode is a file mode written in octal: 0600, "0660".
type SocketMode os.FileMode

// UnmarshalYAML reads the mode's digits as octal, quoted or not: YAML
// would read an unquoted 0660 as decimal or octal depending on its
// version.
func (m *SocketMode) UnmarshalYAML(n *yaml.Node) error {
	digits := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0O")
	v, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || n.Kind != yaml.ScalarNode || v > 0o777 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a file mode (write e.g. \"0660\")", n.Line, n.Value)}}
	}
	*m = SocketMode(v)
	return nil
}

func (m SocketMode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// Limits on what a configuration may ask for.
const (
	// maxSocketPath is what fits in sun_path with its terminating NUL.
	maxSocketPath  = 107
	maxConnections = 10000
)

func defaultConfig() Config {
	return Config{
		Mode:           0o600,
		Files:          Files{Dir: "/var/run/athenz", Key: "service.key.pem", Cert: "service.cert.pem", CACert: "ca.cert.pem"},
		RoleCerts:      RoleCerts{Delimiter: ":role."},
		PollInterval:   sdk.Duration(time.Second),
		SDS:            SDS{DefaultSVIDName: "default", DefaultBundleName: "ROOTCA", AllBundlesName: "ALL"},
		MaxConnections: 100,
	}
}

// Validate checks what spans the blocks; each block checked itself.
func (c *Config) Validate() error {
	var check conf.Checker
	switch socket := c.socket(); {
	case c.Socket == "":
		check.Errorf("socket", "required: the Unix socket to serve on, e.g. /run/sia-agent/spiffe.sock")
	case len(socket) > maxSocketPath:
		check.Errorf("socket", "%s is %d bytes long; a Unix socket path has at most %d", socket, len(socket), maxSocketPath)
	}
	if c.Mode&0o600 != 0o600 {
		check.Errorf("mode", "%s does not let the agent's own user read and write the socket (write e.g. \"0660\")", c.Mode)
	}
	for i, td := range c.TrustDomains {
		if _, err := spiffeid.TrustDomainFromString(td); err != nil {
			check.ErrorfAt(conf.P("trust_domains", i), "%q is not a SPIFFE trust domain: %v", td, err)
		}
	}
	if c.PollInterval < sdk.Duration(10*time.Millisecond) {
		check.Errorf("poll_interval", "must be at least 10ms, not %s", c.PollInterval)
	}
	if c.MaxConnections < 1 || c.MaxConnections > maxConnections {
		check.Errorf("max_connections", "must be between 1 and %d, not %d", maxConnections, c.MaxConnections)
	}
	return check.Err()
}

// socket is the socket's path, resolved.
func (c *Config) socket() string { return resolve(c.dir, c.Socket) }

// Validate checks the IDs.
func (a Allow) Validate() error {
	var check conf.Checker
	for i, id := range a.UIDs {
		if id < 0 {
			check.ErrorfAt(conf.P("uids", i), "%d is not a user ID", id)
		}
	}
	for i, id := range a.GIDs {
		if id < 0 {
			check.ErrorfAt(conf.P("gids", i), "%d is not a group ID", id)
		}
	}
	return check.Err()
}

// Validate checks that the identity's files are named.
func (f Files) Validate() error {
	var check conf.Checker
	for _, k := range []struct{ key, value string }{{"key", f.Key}, {"cert", f.Cert}, {"ca_cert", f.CACert}} {
		if k.value == "" {
			check.Errorf(k.key, "required: the cert provider's files.%s", k.key)
		}
	}
	return check.Err()
}

// Athenz names (core/zts/src/main/rdl/Names.tdl), as the cert provider
// checks them.
var compoundNameRE = regexp.MustCompile(`^([a-zA-Z0-9_][a-zA-Z0-9_-]*\.)*[a-zA-Z0-9_][a-zA-Z0-9_-]*$`)

const roleSep = ":role."

// Validate checks the targets and the delimiter.
func (rc RoleCerts) Validate() error {
	var check conf.Checker
	if rc.Delimiter == "" || strings.ContainsRune(rc.Delimiter, filepath.Separator) {
		check.Errorf("delimiter", "%q cannot separate domain and role in a file name", rc.Delimiter)
	}
	seen := map[string]bool{}
	for i, t := range rc.Targets {
		d, r, ok := strings.Cut(t, roleSep)
		switch {
		case !ok || !compoundNameRE.MatchString(d) || !compoundNameRE.MatchString(r):
			check.ErrorfAt(conf.P("targets", i), "%q is not <domain>:role.<role>", t)
		case seen[strings.ToLower(t)]:
			check.ErrorfAt(conf.P("targets", i), "%s is listed twice", t)
		}
		seen[strings.ToLower(t)] = true
	}
	return check.Err()
}

// Validate checks that the names are set, apart, and no SPIFFE IDs.
func (s SDS) Validate() error {
	var check conf.Checker
	seen := map[string]string{}
	for _, n := range []struct{ key, value string }{
		{"default_svid_name", s.DefaultSVIDName}, {"default_bundle_name", s.DefaultBundleName}, {"all_bundles_name", s.AllBundlesName},
	} {
		switch {
		case n.value == "":
			check.Errorf(n.key, "required: the name Envoy asks for")
		case strings.HasPrefix(n.value, "spiffe://"):
			check.Errorf(n.key, "%q is a SPIFFE ID, which names its own SVID or trust domain", n.value)
		case seen[n.value] != "":
			check.Errorf(n.key, "%q is sds.%s already", n.value, seen[n.value])
		}
		seen[n.value] = n.key
	}
	return check.Err()
}

// loadConfig decodes cfg over the defaults and validates it, reporting
// every problem at once with its file and line.
func loadConfig(cfg sdk.Config) (Config, error) {
	c := defaultConfig()
	if cfg.File != "" {
		c.dir = filepath.Dir(cfg.File)
	}
	if err := cfg.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// settings is a valid configuration with its paths resolved.
type settings struct {
	Config
	socket  string
	key     string
	cert    string
	caCert  string
	roles   []role
	domains []spiffeid.TrustDomain
	self    int // the agent's UID, admitted when the allow list is empty
}

// role is one role certificate to serve.
type role struct {
	name string // <domain>:role.<role>
	cert string
	key  string // the role's own key file, if the cert provider writes one (key_output)
}

func newSettings(c Config) settings {
	dir := resolve(c.dir, c.Files.Dir)
	if dir == "" {
		dir = c.dir
	}
	roleDir := filepath.Join(dir, "rolecerts")
	if c.RoleCerts.Dir != "" {
		roleDir = resolve(c.dir, c.RoleCerts.Dir)
	}
	s := settings{
		Config: c,
		socket: c.socket(),
		key:    resolve(dir, c.Files.Key),
		cert:   resolve(dir, c.Files.Cert),
		caCert: resolve(dir, c.Files.CACert),
		self:   os.Getuid(),
	}
	for _, t := range c.RoleCerts.Targets {
		d, r, _ := strings.Cut(strings.ToLower(t), roleSep)
		base := filepath.Join(roleDir, d+c.RoleCerts.Delimiter+r)
		s.roles = append(s.roles, role{name: d + roleSep + r, cert: base + ".cert.pem", key: base + ".key.pem"})
	}
	for _, td := range c.TrustDomains {
		s.domains = append(s.domains, spiffeid.RequireTrustDomainFromString(td))
	}
	return s
}

// allowed reports whether a caller with uid and gid may use the socket.
func (s *settings) allowed(uid, gid int) bool {
	if len(s.Allow.UIDs) == 0 && len(s.Allow.GIDs) == 0 {
		return uid == s.self
	}
	return slices.Contains(s.Allow.UIDs, uid) || slices.Contains(s.Allow.GIDs, gid)
}

// resolve makes path absolute against dir, unless it already is.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}
