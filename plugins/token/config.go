package token

import (
	"errors"
	"math"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/plugins/internal/filename"
	"github.com/sia-agent/sia-agent/plugins/internal/fileperm"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the token provider's `config:` block. docs/token.md is its
// reference; the defaults are those of DefaultConfig.
type Config struct {
	// Endpoint is the ZTS base URL, e.g. https://zts.example:4443/zts/v1.
	Endpoint string `yaml:"endpoint"`
	// CAFile is the PEM bundle that signs ZTS's server certificate; empty
	// means the system roots.
	CAFile string `yaml:"ca_file"`
	// KeyFile and CertFile are the identity the provider authenticates to
	// ZTS with (mTLS), typically written by the cert provider. They are
	// reloaded when they change.
	KeyFile  string `yaml:"key_file"`
	CertFile string `yaml:"cert_file"`
	// ZTSTimeout bounds one ZTS call.
	ZTSTimeout sdk.Duration `yaml:"zts_timeout"`

	// TokenTypes are the tokens the provider fetches and serves:
	// accesstoken, roletoken or both.
	TokenTypes []string `yaml:"token_types"`
	// TokenExpiry is the lifetime asked of ZTS (access token expires_in,
	// role token minExpiryTime) for targets, header mode and REST requests
	// that name none; 0 leaves it to ZTS.
	TokenExpiry sdk.Duration `yaml:"token_expiry"`
	// OpenIDService, when set, adds `openid <domain>:service.<name>` to
	// the scope of every access token asked for without a proxy principal
	// (ZTS refuses an ID token to a proxy), as k8s-athenz-sia did with its
	// SERVICEACCOUNT. The ID token ZTS then returns is not kept.
	OpenIDService string `yaml:"openid_service"`
	// Targets are fetched at Init, refreshed ahead of expiry, never evicted
	// and written to files when Files.Dir is set.
	Targets []Target `yaml:"targets"`

	Refresh RefreshConfig `yaml:"refresh"`
	// Circuit is how the agent backs off ZTS while it fails, for every
	// provider that calls it (see ztsclient.CircuitConfig).
	Circuit ztsclient.CircuitConfig `yaml:"circuit"`
	Cache   CacheConfig             `yaml:"cache"`
	Files   FilesConfig             `yaml:"files"`

	// Address is where the token server listens.
	Address string       `yaml:"address"`
	Server  ServerConfig `yaml:"server"`

	// MemoryReportInterval is how often the memory reporter logs the cache
	// size and updates its gauges.
	MemoryReportInterval sdk.Duration `yaml:"memory_report_interval"`
}

// Target is a token the provider keeps fresh whether or not anyone asks.
type Target struct {
	Domain string `yaml:"domain"`
	// Roles are short role names; none means every role the identity has
	// in the domain.
	Roles []string `yaml:"roles"`
}

// RefreshConfig schedules refreshes ahead of each token's own expiry.
type RefreshConfig struct {
	// MinRemaining: a token is refreshed at a random point between 2/5
	// and 4/5 of its lifetime, and no later than MinRemaining before it
	// expires (but not before 1/4 of its lifetime).
	MinRemaining sdk.Duration `yaml:"min_remaining"`
	// MinInterval is the refresh floor: no token is refreshed sooner than
	// this after it was fetched, however short-lived ZTS made it, so that
	// a short lifetime never turns into a stream of ZTS calls.
	MinInterval sdk.Duration `yaml:"min_interval"`
	// Concurrency bounds the refresh calls to ZTS in flight at once. A
	// token waiting to retry holds no slot.
	Concurrency int `yaml:"concurrency"`
	// Retry is the backoff of one token's refresh: each token backs off on
	// its own, so that one failing token never delays another.
	Retry RetryConfig `yaml:"retry"`
	// FailureInterval: once a refresh's retries give up (or the run ends
	// them), the token is tried again after this long, less up to a
	// quarter of jitter.
	FailureInterval sdk.Duration `yaml:"failure_interval"`
	// FirstAttemptTimeout bounds how long Init waits for the first
	// attempt at the targets in refresh mode: an attempt still under way
	// then goes on without it, and the refresh loop retries what failed.
	FirstAttemptTimeout sdk.Duration `yaml:"first_attempt_timeout"`
}

// RetryConfig is an exponential backoff with jitter.
type RetryConfig struct {
	Initial    sdk.Duration `yaml:"initial"`
	Max        sdk.Duration `yaml:"max"`
	MaxElapsed sdk.Duration `yaml:"max_elapsed"`
}

func (r RetryConfig) policy() sdk.RetryPolicy {
	return sdk.RetryPolicy{Initial: r.Initial.Std(), Max: r.Max.Std(), MaxElapsed: r.MaxElapsed.Std()}
}

// CacheConfig bounds the cache of on-demand tokens.
type CacheConfig struct {
	// IdleTimeout evicts a token nobody asked for in that long (targets
	// are never evicted).
	IdleTimeout sdk.Duration `yaml:"idle_timeout"`
	// MaxEntries caps the cache; beyond it the least recently used
	// on-demand token is evicted.
	MaxEntries int `yaml:"max_entries"`
	// ExpiryMargin: a token that expires within this margin is not served
	// any more (it is fetched again instead), so that a client never gets
	// a token that expires on its way to the resource. A token ZTS
	// delivers with less than this left is refused.
	ExpiryMargin sdk.Duration `yaml:"expiry_margin"`
	// MinTokenLifetime is the shortest lifetime a request may ask for
	// (expiry, min_expiry): shorter ones are refused with 400, since such
	// a token would be stale almost as soon as it is cached.
	MinTokenLifetime sdk.Duration `yaml:"min_token_lifetime"`
	// NegativeTTL is how long ZTS's refusal of a token (400, 403, 404) is
	// remembered and answered to clients without asking ZTS again; 0
	// turns that off.
	NegativeTTL sdk.Duration `yaml:"negative_ttl"`
	// MissRate and MissBurst bound the on-demand fetches that clients'
	// cache misses make (per second, and at once after a quiet time);
	// beyond them a request gets 429.
	MissRate  float64 `yaml:"miss_rate"`
	MissBurst int     `yaml:"miss_burst"`
}

// FilesConfig writes the targets' tokens to files.
type FilesConfig struct {
	// Dir is where <domain><delimiter><roles>.{accesstoken,roletoken} are
	// written; empty means no files.
	Dir       string        `yaml:"dir"`
	Mode      fileperm.Mode `yaml:"mode"`
	Delimiter string        `yaml:"delimiter"`
	// AccessTokenName and RoleTokenName name the files of one kind with a
	// template instead (k8s-athenz-sia's ACCESS_TOKEN_NAMING_FORMAT and
	// ROLE_TOKEN_NAMING_FORMAT): {{domain}}, {{role}} and {{delimiter}}
	// in a path, the delimiter left out for a whole-domain token. A kind
	// with neither a template nor Dir gets no files.
	AccessTokenName string `yaml:"access_token_name"`
	RoleTokenName   string `yaml:"role_token_name"`
	// User and Group own the files (names or numbers; "" the agent's), so
	// that a workload of another UID reads them through the group.
	User  string `yaml:"user"`
	Group string `yaml:"group"`
}

// enabled reports whether any token files are written.
func (f FilesConfig) enabled() bool {
	return f.Dir != "" || f.AccessTokenName != "" || f.RoleTokenName != ""
}

// perm is the token files' mode and owner; f was validated.
func (f FilesConfig) perm() fileperm.Perm {
	uid, gid, _ := fileperm.Owner{User: f.User, Group: f.Group}.IDs()
	return fileperm.Perm{Mode: os.FileMode(f.Mode), UID: uid, GID: gid}
}

// ServerConfig is the token server's behaviour.
type ServerConfig struct {
	// Enabled turns the token server on.
	Enabled bool `yaml:"enabled"`
	// HeaderMode answers any request but the REST API's with the tokens
	// named by the X-Athenz-Domain and X-Athenz-Role headers.
	HeaderMode bool `yaml:"header_mode"`
	// RESTAPI serves POST /accesstoken and POST /roletoken.
	RESTAPI bool `yaml:"rest_api"`
	// RoleAuthHeader carries the role token in header mode.
	RoleAuthHeader string `yaml:"role_auth_header"`

	// RequestTimeout bounds how long a request waits for ZTS on a cache
	// miss before it gets 503; the fetch goes on and its token is cached.
	RequestTimeout    sdk.Duration `yaml:"request_timeout"`
	ReadHeaderTimeout sdk.Duration `yaml:"read_header_timeout"`
	ReadTimeout       sdk.Duration `yaml:"read_timeout"`
	WriteTimeout      sdk.Duration `yaml:"write_timeout"`
	IdleTimeout       sdk.Duration `yaml:"idle_timeout"`

	// ShutdownDelay keeps the server serving for this long after shutdown
	// began, so that clients routed away from the agent finish first;
	// ShutdownTimeout then bounds the graceful shutdown.
	ShutdownDelay   sdk.Duration `yaml:"shutdown_delay"`
	ShutdownTimeout sdk.Duration `yaml:"shutdown_timeout"`

	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig turns on TLS, and with ClientCAFile mTLS, for the token server.
// The files are reloaded when they change.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile makes the server require client certificates signed by
	// these CAs, and only these: the system roots are not trusted.
	ClientCAFile string `yaml:"client_ca_file"`
}

func (t TLSConfig) enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// The token types, as configured and as the status records name them.
const (
	typeAccessToken = "accesstoken"
	typeRoleToken   = "roletoken"
)

// DefaultConfig returns the configuration an empty block means.
func DefaultConfig() Config {
	return Config{
		ZTSTimeout: sdk.Duration(10 * time.Second),
		TokenTypes: []string{typeAccessToken, typeRoleToken},
		Refresh: RefreshConfig{
			MinRemaining: sdk.Duration(5 * time.Minute),
			MinInterval:  sdk.Duration(30 * time.Second),
			Concurrency:  4,
			Retry: RetryConfig{
				Initial:    sdk.Duration(time.Second),
				Max:        sdk.Duration(30 * time.Second),
				MaxElapsed: sdk.Duration(time.Minute),
			},
			FailureInterval:     sdk.Duration(time.Minute),
			FirstAttemptTimeout: sdk.Duration(200 * time.Millisecond),
		},
		Circuit: ztsclient.DefaultCircuit(),
		Cache: CacheConfig{
			IdleTimeout:      sdk.Duration(time.Hour),
			MaxEntries:       10000,
			ExpiryMargin:     sdk.Duration(5 * time.Second),
			MinTokenLifetime: sdk.Duration(time.Minute),
			NegativeTTL:      sdk.Duration(30 * time.Second),
			MissRate:         20,
			MissBurst:        100,
		},
		Files:   FilesConfig{Mode: 0o600, Delimiter: ":role."},
		Address: "127.0.0.1:8880",
		Server: ServerConfig{
			Enabled:           true,
			HeaderMode:        true,
			RESTAPI:           true,
			RoleAuthHeader:    "Athenz-Role-Auth",
			RequestTimeout:    sdk.Duration(3 * time.Second),
			ReadHeaderTimeout: sdk.Duration(5 * time.Second),
			ReadTimeout:       sdk.Duration(10 * time.Second),
			WriteTimeout:      sdk.Duration(10 * time.Second),
			IdleTimeout:       sdk.Duration(2 * time.Minute),
			ShutdownTimeout:   sdk.Duration(5 * time.Second),
		},
		MemoryReportInterval: sdk.Duration(time.Minute),
	}
}

// decodeConfig decodes cfg over the defaults and checks it, reporting every
// problem with its file, line and key. Relative paths are made absolute
// against the pipeline file's directory, as every provider does.
func decodeConfig(cfg sdk.Config) (Config, error) {
	c := DefaultConfig()
	if err := cfg.Decode(&c); err != nil {
		return c, err
	}
	if cfg.File != "" {
		base := filepath.Dir(cfg.File)
		for _, p := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile, &c.Files.Dir, &c.Files.AccessTokenName, &c.Files.RoleTokenName,
			&c.Server.TLS.CertFile, &c.Server.TLS.KeyFile, &c.Server.TLS.ClientCAFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(base, *p)
			}
		}
	}
	return c, nil
}

// Validate checks what spans the blocks of the config, and its own keys;
// each block has checked itself already.
func (c *Config) Validate() error {
	var check conf.Checker
	c.checkZTS(&check)
	c.checkTokens(&check)
	c.checkFileNames(&check)
	if c.Server.Enabled {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			check.Errorf("address", "%q is not host:port: %v", c.Address, err)
		}
	}
	if c.MemoryReportInterval <= 0 {
		check.Errorf("memory_report_interval", "must be positive")
	}
	return check.Err()
}

// checkZTS checks how the provider reaches ZTS.
func (c *Config) checkZTS(check *conf.Checker) {
	switch u, err := url.Parse(c.Endpoint); {
	case c.Endpoint == "":
		check.Errorf("endpoint", "is required: the ZTS base URL, e.g. https://zts.example:4443/zts/v1")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		check.Errorf("endpoint", "%q is not an http(s) URL", c.Endpoint)
	}
	if c.KeyFile == "" || c.CertFile == "" {
		check.Errorf("key_file", "key_file and cert_file are required: the identity the provider authenticates to ZTS with")
	}
	if c.ZTSTimeout <= 0 {
		check.Errorf("zts_timeout", "must be positive")
	}
}

// checkTokens checks which tokens are fetched, and for how long.
func (c *Config) checkTokens(check *conf.Checker) {
	if len(c.TokenTypes) == 0 {
		check.Errorf("token_types", "name at least one of %s, %s", typeAccessToken, typeRoleToken)
	}
	for i, t := range c.TokenTypes {
		if t != typeAccessToken && t != typeRoleToken {
			check.ErrorfAt(conf.P("token_types", i), "%q is not a token type (want %s or %s)", t, typeAccessToken, typeRoleToken)
		}
	}
	if c.OpenIDService != "" && !isSimpleName(c.OpenIDService) {
		check.Errorf("openid_service", "%q is not an Athenz service name ([a-zA-Z0-9_][a-zA-Z0-9_-]*)", c.OpenIDService)
	}
	switch secs := c.TokenExpiry.Std() / time.Second; {
	case secs > math.MaxInt32 || c.TokenExpiry.Std()%time.Second != 0:
		check.Errorf("token_expiry", "must be whole seconds, at most %d", math.MaxInt32)
	case c.TokenExpiry > 0 && c.TokenExpiry < c.Cache.MinTokenLifetime:
		check.Errorf("token_expiry", "%v is shorter than cache.min_token_lifetime (%v): use 0 for ZTS's default, or at least the minimum",
			c.TokenExpiry.Std(), c.Cache.MinTokenLifetime.Std())
	}
}

// Validate checks that the target names a valid domain and roles.
func (t Target) Validate() error {
	_, _, err := canonical(t.Domain, strings.Join(t.Roles, ","))
	return err
}

// Validate checks the refresh schedule.
func (r RefreshConfig) Validate() error {
	var check conf.Checker
	if r.Concurrency < 1 {
		check.Errorf("concurrency", "must be at least 1")
	}
	if r.FailureInterval <= 0 {
		check.Errorf("failure_interval", "must be positive")
	}
	if r.MinInterval <= 0 {
		check.Errorf("min_interval", "must be positive: it keeps short-lived tokens from being refreshed in a loop")
	}
	if r.FirstAttemptTimeout <= 0 {
		check.Errorf("first_attempt_timeout", "must be positive")
	}
	return check.Err()
}

// Validate checks the backoff.
func (r RetryConfig) Validate() error {
	if r.Initial <= 0 || r.Max < r.Initial || r.MaxElapsed <= 0 {
		return errors.New("want 0 < initial <= max and max_elapsed > 0")
	}
	return nil
}

// Validate checks the bounds of the cache.
func (cc CacheConfig) Validate() error {
	var check conf.Checker
	if cc.IdleTimeout <= 0 {
		check.Errorf("idle_timeout", "must be positive")
	}
	if cc.MaxEntries < 1 {
		check.Errorf("max_entries", "must be at least 1")
	}
	switch d := cc.MinTokenLifetime.Std(); {
	case d <= 0 || d%time.Second != 0 || d/time.Second > math.MaxInt32:
		check.Errorf("min_token_lifetime", "must be a positive number of whole seconds")
	case cc.MinTokenLifetime <= cc.ExpiryMargin:
		check.Errorf("min_token_lifetime", "%v must exceed cache.expiry_margin (%v), or a token of the minimum lifetime could never be served",
			d, cc.ExpiryMargin.Std())
	}
	if !(cc.MissRate > 0) || math.IsInf(cc.MissRate, 0) {
		check.Errorf("miss_rate", "must be a positive number of on-demand fetches per second")
	}
	if cc.MissBurst < 1 {
		check.Errorf("miss_burst", "must be at least 1")
	}
	return check.Err()
}

// Validate checks that the token files can be written and read back, by
// nobody else than their owner written, and given to a user and group
// that exist.
func (f FilesConfig) Validate() error {
	var check conf.Checker
	for _, t := range []struct{ key, value string }{{"access_token_name", f.AccessTokenName}, {"role_token_name", f.RoleTokenName}} {
		if _, err := filename.Parse(t.value); err != nil {
			check.Errorf(t.key, "%v", err)
		}
	}
	if !f.enabled() {
		return check.Err()
	}
	if f.Mode&0o600 != 0o600 {
		check.Errorf("mode", "%#o would not let the owner read and write the token files", f.Mode)
	} else if err := fileperm.CheckMode(f.Mode, false); err != nil {
		check.Errorf("mode", "%v", err)
	}
	if _, _, err := (fileperm.Owner{User: f.User, Group: f.Group}).IDs(); err != nil {
		key := "user"
		if strings.HasPrefix(err.Error(), "group") {
			key = "group"
		}
		check.Errorf(key, "%v", err)
	}
	return check.Err()
}

// Validate checks the server's settings, when it is enabled.
func (s ServerConfig) Validate() error {
	if !s.Enabled {
		return nil
	}
	var check conf.Checker
	if !s.HeaderMode && !s.RESTAPI {
		check.Errorf("", "enable header_mode or rest_api (or set enabled: false): a server with neither answers 404 to everything")
	}
	if s.RoleAuthHeader == "" || strings.ContainsAny(s.RoleAuthHeader, " \t:\r\n") {
		check.Errorf("role_auth_header", "%q is not a header name", s.RoleAuthHeader)
	}
	s.checkTimeouts(&check)
	if s.TLS.enabled() && (s.TLS.CertFile == "" || s.TLS.KeyFile == "") {
		check.Errorf("tls", "cert_file and key_file go together")
	}
	if s.TLS.ClientCAFile != "" && !s.TLS.enabled() {
		check.ErrorfAt(conf.P("tls", "client_ca_file"), "mTLS needs cert_file and key_file too")
	}
	return check.Err()
}

// checkTimeouts checks the server's timeouts.
func (s ServerConfig) checkTimeouts(check *conf.Checker) {
	for _, d := range []struct {
		key   string
		value sdk.Duration
	}{
		{"request_timeout", s.RequestTimeout}, {"read_header_timeout", s.ReadHeaderTimeout},
		{"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout}, {"shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.value <= 0 {
			check.Errorf(d.key, "must be positive")
		}
	}
	if s.WriteTimeout > 0 && s.WriteTimeout <= s.RequestTimeout {
		check.Errorf("write_timeout", "must exceed request_timeout, or a slow answer is cut off instead of getting 503")
	}
}

// wants reports whether token type t is enabled.
func (c *Config) wants(t string) bool {
	for _, x := range c.TokenTypes {
		if x == t {
			return true
		}
	}
	return false
}

// roleAuthHeader is the role token header's canonical name, so that it can
// be set in a header map directly.
func (c *Config) roleAuthHeader() string {
	return textproto.CanonicalMIMEHeaderKey(c.Server.RoleAuthHeader)
}

// checkFileNames checks that no two targets' tokens are written to one
// file, which a template without {{domain}} or {{role}} would do.
func (c *Config) checkFileNames(check *conf.Checker) {
	files := newTokenFiles(c.Files)
	if files == nil {
		return
	}
	owner := make(map[string]string)
	for _, t := range c.Targets {
		domain, roles, err := canonical(t.Domain, strings.Join(t.Roles, ","))
		if err != nil {
			continue // the target reports it
		}
		for _, typ := range c.TokenTypes {
			k := Key{Kind: accessToken, Domain: domain, Roles: roles}
			key := "access_token_name"
			if typ == typeRoleToken {
				k.Kind, key = roleToken, "role_token_name"
			}
			name := files.path(k)
			if name == "" {
				continue
			}
			what := typ + " " + domain + ":" + roles
			if other, ok := owner[name]; ok {
				check.ErrorfAt(conf.P("files", key), "the %s and the %s would both be written to %s: name them apart (with {{domain}} and {{role}})", other, what, name)
			}
			owner[name] = what
		}
	}
}
