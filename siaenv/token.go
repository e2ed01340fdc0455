package siaenv

import (
	"slices"
	"strings"
	"time"

	"github.com/sia-agent/sia-agent/plugins/token"
	"github.com/sia-agent/sia-agent/sdk"
)

// tokenKind is a kind of token file and its variables.
type tokenKind struct{ name, format, delimiter, ext string }

// token maps the token cache, files and server, and returns the provider's
// config and its shutdown timeout. It returns nil when nobody could see a
// token: no server and no files.
func (c *converter) token(id identity) (*typed[token.Config], time.Duration) {
	types := c.tokenTypes()
	if types == nil {
		return nil, 0
	}
	t := newTyped[token.Config]()
	files := c.tokenFiles(t, types)
	addr := c.get("TOKEN_SERVER_ADDR")
	rest, header := c.boolean("TOKEN_SERVER_REST_API"), c.boolean("USE_TOKEN_SERVER")
	if addr != "" && !rest && !header {
		c.note("TOKEN_SERVER_ADDR", "neither TOKEN_SERVER_REST_API nor USE_TOKEN_SERVER is true: k8s-athenz-sia answered 404 to "+
			"everything there; no token server")
		addr = ""
	}
	if !files && addr == "" {
		c.ignore("neither TOKEN_SERVER_ADDR nor TOKEN_DIR: no token could be used", tokenVars...)
		return nil, 0
	}
	cfg := &t.cfg
	if v := c.get("ENDPOINT"); v != "" {
		set(t, &cfg.Endpoint, literal(v), "ENDPOINT")
	}
	if v := c.get("SERVER_CA_CERT"); v != "" {
		set(t, &cfg.CAFile, literal(v), "SERVER_CA_CERT")
	}
	set(t, &cfg.KeyFile, literal(id.keyFile), "KEY_FILE")
	set(t, &cfg.CertFile, literal(id.certFile), "CERT_FILE")
	set(t, &cfg.TokenTypes, types, "TOKEN_TYPE")
	if c.get("SERVICEACCOUNT") != "" && slices.Contains(types, "accesstoken") {
		set(t, &cfg.OpenIDService, c.ref("SERVICEACCOUNT"), "SERVICEACCOUNT")
	}
	c.tokenLifetime(t)
	targets := c.tokenTargets(t)
	if files && len(targets) == 0 {
		c.note("TOKEN_DIR", "no TARGET_DOMAIN_ROLES: no token files")
	}
	if addr == "" {
		set(t, &cfg.Server.Enabled, false, "no TOKEN_SERVER_ADDR")
		c.ignore("no token server", "ROLE_AUTH_HEADER", "TOKEN_SERVER_TIMEOUT", "TOKEN_SERVER_TLS_CERT_PATH",
			"TOKEN_SERVER_TLS_KEY_PATH", "TOKEN_SERVER_TLS_CA_PATH", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT")
		return t, defaultShutdownTimeout
	}
	set(t, &cfg.Address, literal(addr), "TOKEN_SERVER_ADDR")
	set(t, &cfg.Server.Enabled, true, "TOKEN_SERVER_ADDR")
	set(t, &cfg.Server.HeaderMode, header, "USE_TOKEN_SERVER")
	set(t, &cfg.Server.RESTAPI, rest, "TOKEN_SERVER_REST_API")
	return t, c.tokenServer(t)
}

// tokenVars are the variables of the token provider.
var tokenVars = []string{"TOKEN_REFRESH_INTERVAL", "TOKEN_EXPIRY", "TOKEN_DIR", "ACCESS_TOKEN_NAMING_FORMAT",
	"ROLE_TOKEN_NAMING_FORMAT", "ACCESS_TOKEN_FILENAME_DELIMITER", "ROLE_TOKEN_FILENAME_DELIMITER",
	"TOKEN_SERVER_ADDR", "TOKEN_SERVER_REST_API", "USE_TOKEN_SERVER", "ROLE_AUTH_HEADER", "TOKEN_SERVER_TIMEOUT",
	"TOKEN_SERVER_TLS_CERT_PATH", "TOKEN_SERVER_TLS_KEY_PATH", "TOKEN_SERVER_TLS_CA_PATH", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT"}

// tokenTypes are the token types TOKEN_TYPE names; nil for none.
func (c *converter) tokenTypes() []string {
	tokenType := c.get("TOKEN_TYPE")
	if tokenType == "" {
		tokenType = "accesstoken" // k8s-athenz-sia's default
	}
	var types []string
	for _, t := range []string{"accesstoken", "roletoken"} {
		if strings.Contains(tokenType, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		c.note("TOKEN_TYPE", "%q names neither accesstoken nor roletoken: no tokens", tokenType)
		c.ignore("TOKEN_TYPE names no token type", tokenVars...)
	}
	return types
}

// tokenLifetime maps TOKEN_REFRESH_INTERVAL and TOKEN_EXPIRY.
func (c *converter) tokenLifetime(t *typed[token.Config]) {
	if _, ok := c.duration("TOKEN_REFRESH_INTERVAL"); ok {
		c.note("TOKEN_REFRESH_INTERVAL", "tokens are refreshed ahead of their own expiry (refresh.min_remaining), not at a fixed interval")
	}
	d, ok := c.duration("TOKEN_EXPIRY")
	switch {
	case !ok || d == 0:
	case d%time.Second != 0:
		c.invalid("TOKEN_EXPIRY", "%v is not whole seconds", d)
	case d < minTokenLifetime:
		c.unsupported("TOKEN_EXPIRY", "%v is shorter than the token provider caches (cache.min_token_lifetime, %v): every token would be fetched again at once; the pipeline leaves the lifetime to ZTS; set token_expiry to at least %v", d, minTokenLifetime, minTokenLifetime)
	default:
		set(t, &t.cfg.TokenExpiry, sdk.Duration(d), "TOKEN_EXPIRY")
	}
}

// tokenTargets maps TARGET_DOMAIN_ROLES to the tokens to fetch.
func (c *converter) tokenTargets(t *typed[token.Config]) []target {
	targets := c.targets()
	if len(targets) == 0 {
		return nil
	}
	out := make([]token.Target, len(targets))
	for i, tg := range targets {
		out[i].Domain = literal(tg.domain)
		if tg.role != "" {
			out[i].Roles = []string{literal(tg.role)}
		}
	}
	set(t, &t.cfg.Targets, out, "TARGET_DOMAIN_ROLES")
	return targets
}

// tokenFiles maps the token file variables for the enabled types, and
// says whether files are written.
func (c *converter) tokenFiles(t *typed[token.Config], types []string) bool {
	var kinds []tokenKind
	for _, k := range []tokenKind{
		{"accesstoken", "ACCESS_TOKEN_NAMING_FORMAT", "ACCESS_TOKEN_FILENAME_DELIMITER", ".accesstoken"},
		{"roletoken", "ROLE_TOKEN_NAMING_FORMAT", "ROLE_TOKEN_FILENAME_DELIMITER", ".roletoken"},
	} {
		if slices.Contains(types, k.name) {
			kinds = append(kinds, k)
		} else {
			c.ignore("TOKEN_TYPE does not name "+k.name, k.format, k.delimiter)
		}
	}

	dir, from := c.get("TOKEN_DIR"), "TOKEN_DIR"
	names := c.tokenNames(kinds, dir != "")
	if dir == "" && len(names) == 0 {
		for _, k := range kinds {
			c.ignore("no TOKEN_DIR: no token files", k.delimiter)
		}
		return false
	}
	files := &t.cfg.Files
	if d, dirFrom, same := sameTokenDir(kinds, names); dir == "" && same {
		dir, from, names = d, dirFrom, nil
	}
	for k, format := range names {
		field := &files.AccessTokenName
		if k.name == "roletoken" {
			field = &files.RoleTokenName
		}
		set(t, field, literal(format), k.format)
	}
	if dir != "" {
		set(t, &files.Dir, literal(dir), from)
	}
	set(t, &files.Mode, 0o644, "k8s-athenz-sia's mode: readable by other users")
	if delimiter, from := c.tokenDelimiter(kinds); delimiter != ":role." {
		set(t, &files.Delimiter, literal(delimiter), from)
	}
	return true
}

// tokenNames are the valid naming formats of kinds; one set together
// with TOKEN_DIR is not.
func (c *converter) tokenNames(kinds []tokenKind, tokenDir bool) map[tokenKind]string {
	names := make(map[tokenKind]string)
	for _, k := range kinds {
		format := c.get(k.format)
		switch err := checkTemplate(format); {
		case format == "":
		case tokenDir:
			c.invalid(k.format, "set together with TOKEN_DIR: set one of them")
		case err != nil:
			c.invalid(k.format, "%v", err)
		default:
			names[k] = format
		}
	}
	return names
}

// sameTokenDir reports whether every kind's file is named as files.dir
// names them, in one directory: that directory and the variable it came
// from.
func sameTokenDir(kinds []tokenKind, names map[tokenKind]string) (dir, from string, same bool) {
	for _, k := range kinds {
		d, ok := templateDir(names[k], k.ext)
		if !ok || (dir != "" && d != dir) {
			return "", "", false
		}
		if dir == "" {
			dir, from = d, k.format
		}
	}
	return dir, from, dir != ""
}

// tokenDelimiter is the delimiter of the token files of kinds, and the
// variable it came from.
func (c *converter) tokenDelimiter(kinds []tokenKind) (delimiter, from string) {

	for _, k := range kinds {
		d := c.get(k.delimiter)
		if d == "" {
			d = ":role." // k8s-athenz-sia's default
		}
		switch {
		case from == "":
			delimiter, from = d, k.delimiter
		case d != delimiter:
			c.unsupported(k.delimiter, "%q: one delimiter for both kinds of token file; %q (%s) is used", d, delimiter, from)
		}
	}
	return delimiter, from
}

// tokenServer maps the settings of a token server that is on and returns
// the token provider's shutdown timeout.
func (c *converter) tokenServer(t *typed[token.Config]) time.Duration {
	server := &t.cfg.Server
	if v := c.get("ROLE_AUTH_HEADER"); v != "" {
		set(t, &server.RoleAuthHeader, literal(v), "ROLE_AUTH_HEADER")
	}
	if d, ok := c.duration("TOKEN_SERVER_TIMEOUT"); ok && d > 0 {
		set(t, &server.RequestTimeout, sdk.Duration(d), "TOKEN_SERVER_TIMEOUT")
		// A response must be written after the request timed out with
		// 503; the token provider's default write timeout is 10s.
		if d >= 10*time.Second {
			set(t, &server.WriteTimeout, sdk.Duration(d+5*time.Second), "TOKEN_SERVER_TIMEOUT + 5s")
		}
	}
	delay, _ := c.duration("SHUTDOWN_DELAY")
	if delay > 0 {
		set(t, &server.ShutdownDelay, sdk.Duration(delay), "SHUTDOWN_DELAY")
	}
	drain := defaultTokenShutdownTimeout
	if d, ok := c.duration("SHUTDOWN_TIMEOUT"); ok && d > 0 {
		drain = d
		set(t, &server.ShutdownTimeout, sdk.Duration(d), "SHUTDOWN_TIMEOUT")
	}
	c.tokenServerTLS(t)
	return max(defaultShutdownTimeout, delay+drain+tokenShutdownMargin)
}

// tokenServerTLS maps the token server's TLS settings.
func (c *converter) tokenServerTLS(t *typed[token.Config]) {
	certPath, keyPath, caPath := c.get("TOKEN_SERVER_TLS_CERT_PATH"), c.get("TOKEN_SERVER_TLS_KEY_PATH"), c.get("TOKEN_SERVER_TLS_CA_PATH")
	switch {
	case certPath != "" && keyPath != "":
		tls := &t.cfg.Server.TLS
		set(t, &tls.CertFile, literal(certPath), "TOKEN_SERVER_TLS_CERT_PATH")
		set(t, &tls.KeyFile, literal(keyPath), "TOKEN_SERVER_TLS_KEY_PATH")
		if caPath != "" {
			set(t, &tls.ClientCAFile, literal(caPath), "TOKEN_SERVER_TLS_CA_PATH")
			c.note("TOKEN_SERVER_TLS_CA_PATH", "client certificates must be signed by these CAs alone; "+
				"k8s-athenz-sia trusted the system roots as well")
		}
	case certPath != "":
		c.invalid("TOKEN_SERVER_TLS_KEY_PATH", "required with TOKEN_SERVER_TLS_CERT_PATH")
	case keyPath != "":
		c.invalid("TOKEN_SERVER_TLS_CERT_PATH", "required with TOKEN_SERVER_TLS_KEY_PATH")
	case caPath != "":
		c.invalid("TOKEN_SERVER_TLS_CA_PATH", "mTLS needs TOKEN_SERVER_TLS_CERT_PATH and TOKEN_SERVER_TLS_KEY_PATH too")
	}
}
