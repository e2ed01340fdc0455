package siaenv

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/plugins/cert"
	"github.com/sia-agent/sia-agent/sdk"
)

// identity is what the other providers need of the certificate provider.
type identity struct {
	register          bool // ZTS issues it (PROVIDER_SERVICE)
	keyFile, certFile string
	caCertFile        string // the CA file the provider writes, if any
	roleCertGlob      string // the role certificates' files; "" without any
}

// certificate maps the identity, its files, the role certificates and
// the refresh to the cert provider's config.
func (c *converter) certificate() (identity, *typed[cert.Config]) {
	t := newTyped[cert.Config]()
	cfg := &t.cfg
	var id identity
	if v := c.get("ENDPOINT"); v != "" {
		set(t, &cfg.Endpoint, literal(v), "ENDPOINT")
	}
	if v := c.get("SERVER_CA_CERT"); v != "" {
		set(t, &cfg.CAFile, literal(v), "SERVER_CA_CERT")
	}
	id.keyFile, id.certFile = c.keyPair(t)
	if id.certFile != "" {
		set(t, &cfg.Files.Dir, literal(filepath.Dir(id.certFile)), "")
	}
	set(t, &cfg.Files.Key, literal(id.keyFile), "KEY_FILE")
	set(t, &cfg.Files.Cert, literal(id.certFile), "CERT_FILE")
	if provider := c.get("PROVIDER_SERVICE"); provider != "" {
		id.register = true
		id.caCertFile = c.registration(t, provider)
	} else {
		c.existing(t)
	}
	if ip := c.get("POD_IP"); ip != "" {
		if net.ParseIP(ip) == nil {
			c.invalid("POD_IP", "%q is not an IP address", ip)
		}
		set(t, &cfg.Identity.IPs, []string{c.ref("POD_IP")}, "POD_IP")
	}
	c.subject(t)
	if id.roleCertGlob = c.roleCerts(t); id.roleCertGlob == "" {
		c.ignore("no role certificates, which the bundle is appended to", "INTERMEDIATE_CERT_BUNDLE")
	} else if cfg.Identity.Subject.OrganizationalUnit == "" {
		set(t, &cfg.Identity.Subject.OrganizationalUnit, "Athenz", "k8s-athenz-sia's OU of role certificates")
	}
	c.certRefresh(t)
	return id, t
}

// keyPair maps the files of the identity's key and certificate: the
// first of each list, and the others as copies.
func (c *converter) keyPair(t *typed[cert.Config]) (keyFile, certFile string) {
	register := c.get("PROVIDER_SERVICE") != ""
	paths := make(map[string]string)
	copies := map[string]*[]string{"KEY_FILE": &t.cfg.Files.KeyCopies, "CERT_FILE": &t.cfg.Files.CertCopies}
	for _, name := range []string{"KEY_FILE", "CERT_FILE"} {
		list := c.list(name)
		switch {
		case len(list) == 0:
			c.invalid(name, "required: k8s-athenz-sia does not start without it")
			continue
		case len(list) > 1 && register:
			rest := make([]string, len(list)-1)
			for i, v := range list[1:] {
				rest[i] = literal(v)
			}
			set(t, copies[name], rest, name)
		case len(list) > 1:
			c.note(name, "%s ignored: without PROVIDER_SERVICE the first file is read and none written (k8s-athenz-sia ignored them too)",
				strings.Join(list[1:], ", "))
		}
		paths[name] = list[0]
	}
	return paths["KEY_FILE"], paths["CERT_FILE"]
}

// existing maps an identity without PROVIDER_SERVICE: a key and
// certificate managed elsewhere.
func (c *converter) existing(t *typed[cert.Config]) {
	set(t, &t.cfg.Identity.Mode, "existing", "PROVIDER_SERVICE unset")
	c.note("PROVIDER_SERVICE", "unset: the key and certificate are read from KEY_FILE and CERT_FILE, never written; "+
		"a replaced pair is picked up at the next refresh, not within a second")
	c.ignore("without PROVIDER_SERVICE no identity is requested", "NAMESPACE", "ATHENZ_DOMAIN", "ATHENZ_PREFIX",
		"ATHENZ_SUFFIX", "SA_TOKEN_FILE", "POD_UID", "DNS_SUFFIX", "CERT_EXTRA_SAN_DNS", "DELETE_INSTANCE_ID", "CA_CERT_FILE")
	if c.get("SERVICEACCOUNT") != "" {
		c.note("SERVICEACCOUNT", "without PROVIDER_SERVICE the identity is the certificate's: SERVICEACCOUNT only names "+
			"the service of the access tokens' `openid` scope (token openid_service)")
	}
}

// certRefresh maps REFRESH_INTERVAL.
func (c *converter) certRefresh(t *typed[cert.Config]) {
	switch d, ok := c.duration("REFRESH_INTERVAL"); {
	case !ok:
	case d == 0:
		c.note("REFRESH_INTERVAL", "0 turned refreshing off; here certificates are refreshed at half their remaining lifetime")
	default:
		set(t, &t.cfg.Refresh.Interval, sdk.Duration(d), "REFRESH_INTERVAL")
		if d < 10*time.Second { // the cert provider's default min_interval
			set(t, &t.cfg.Refresh.MinInterval, sdk.Duration(d), "REFRESH_INTERVAL")
		}
	}
}

// registration maps the instance's identity, mode register, and returns
// the CA file the provider writes, if any.
func (c *converter) registration(t *typed[cert.Config], provider string) (caCertFile string) {
	ident := &t.cfg.Identity
	set(t, &ident.Mode, "register", "PROVIDER_SERVICE")
	set(t, &ident.Provider, literal(provider), "PROVIDER_SERVICE")
	if domain, from := c.domain(); domain != "" {
		set(t, &ident.Domain, domain, from)
	} else {
		c.invalid("NAMESPACE", "required with PROVIDER_SERVICE, or ATHENZ_DOMAIN: the identity's Athenz domain")
	}
	if c.get("SERVICEACCOUNT") != "" {
		set(t, &ident.Service, c.ref("SERVICEACCOUNT"), "SERVICEACCOUNT")
	} else {
		c.invalid("SERVICEACCOUNT", "required with PROVIDER_SERVICE: the identity's Athenz service")
	}
	if c.get("POD_UID") != "" {
		set(t, &ident.InstanceID, c.ref("POD_UID"), "POD_UID")
	} else {
		c.invalid("POD_UID", "required with PROVIDER_SERVICE: the instance id")
	}
	if v := c.get("SA_TOKEN_FILE"); v != "" {
		set(t, &ident.AttestationFile, literal(v), "SA_TOKEN_FILE")
	} else {
		c.invalid("SA_TOKEN_FILE", "required with PROVIDER_SERVICE: the attestation data, e.g. a projected service account token")
	}
	if v := c.get("DNS_SUFFIX"); v != "" {
		set(t, &ident.DNSSuffix, literal(v), "DNS_SUFFIX")
	}
	if extra := c.list("CERT_EXTRA_SAN_DNS"); len(extra) > 0 {
		for i := range extra {
			extra[i] = literal(extra[i])
		}
		set(t, &ident.ExtraDNS, extra, "CERT_EXTRA_SAN_DNS")
	}
	if c.boolean("DELETE_INSTANCE_ID") {
		set(t, &ident.DeleteOnShutdown, true, "DELETE_INSTANCE_ID")
	}
	set(t, &t.cfg.Files.CertChain, true, "PROVIDER_SERVICE: the certificate and its signer, as k8s-athenz-sia writes it")
	if v := c.get("CA_CERT_FILE"); v != "" {
		set(t, &t.cfg.Files.CACert, literal(v), "CA_CERT_FILE")
		return v
	}
	set(t, &t.cfg.Files.CACert, "", "CA_CERT_FILE unset: none written")
	return ""
}

// domain is ATHENZ_PREFIX + (ATHENZ_DOMAIN or NAMESPACE) + ATHENZ_SUFFIX,
// and the variables it came from.
func (c *converter) domain() (value, from string) {
	prefix, suffix := c.get("ATHENZ_PREFIX"), c.get("ATHENZ_SUFFIX")
	var parts []string
	if prefix != "" {
		parts = append(parts, "ATHENZ_PREFIX")
	}
	switch d, ns := c.get("ATHENZ_DOMAIN"), c.get("NAMESPACE"); {
	case d != "":
		value = literal(d)
		parts = append(parts, "ATHENZ_DOMAIN")
		if ns != "" {
			c.note("NAMESPACE", "ignored for the domain: ATHENZ_DOMAIN is set")
		}
	case ns != "":
		value = c.ref("NAMESPACE")
		parts = append(parts, "NAMESPACE")
	default:
		return "", ""
	}
	if suffix != "" {
		parts = append(parts, "ATHENZ_SUFFIX")
	}
	return literal(prefix) + value + literal(suffix), strings.Join(parts, " + ")
}

// subject maps CERT_SUBJECT, an RFC 4514 distinguished name.
func (c *converter) subject(t *typed[cert.Config]) {
	v := c.get("CERT_SUBJECT")
	if v == "" {
		return
	}
	attrs, err := parseDN(v)
	if err != nil {
		c.invalid("CERT_SUBJECT", "%q: %v", v, err)
		return
	}
	sub := &t.cfg.Identity.Subject
	keys := map[string]*string{"C": &sub.Country, "ST": &sub.Province, "L": &sub.Locality, "O": &sub.Organization,
		"STREET": &sub.StreetAddress, "POSTALCODE": &sub.PostalCode, "OU": &sub.OrganizationalUnit}
	seen := make(map[string]bool)
	for _, a := range attrs {
		typ, val := a[0], a[1]
		switch field, ok := keys[typ]; {
		case typ == "CN" || typ == "SERIALNUMBER":
			c.invalid("CERT_SUBJECT", "%s is not allowed: the CN is <domain>.<service> (or <domain>:role.<role>)", typ)
		case !ok:
			c.invalid("CERT_SUBJECT", "unknown attribute %s (allowed: C, O, OU, L, ST, STREET, POSTALCODE)", typ)
		case val == "":
			// k8s-athenz-sia drops empty values.
		case seen[typ]:
			c.unsupported("CERT_SUBJECT", "%s=%s: one value per attribute; the first is kept", typ, val)
		default:
			seen[typ] = true
			set(t, field, literal(val), "CERT_SUBJECT")
		}
	}
}

// parseDN splits an RFC 4514 distinguished name into (type, value) pairs,
// types upper-cased, values unescaped.
func parseDN(s string) ([][2]string, error) {
	var out [][2]string
	var cur strings.Builder
	typ, inValue := "", false
	flush := func() error {
		if !inValue {
			if strings.TrimSpace(cur.String()) == "" {
				return nil
			}
			return fmt.Errorf("%q has no '=': write TYPE=value, e.g. O=Example", strings.TrimSpace(cur.String()))
		}
		out = append(out, [2]string{strings.ToUpper(strings.TrimSpace(typ)), strings.TrimSpace(cur.String())})
		cur.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' && i+1 < len(s):
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				cur.WriteByte(byte(b))
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
		case ch == '=' && !inValue:
			typ, inValue = cur.String(), true
			cur.Reset()
		case ch == ',' || ch == '+':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(ch)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

// templateRE matches a k8s-athenz-sia file name template that names files
// as sia-agent does: <dir>/{{domain}}{{delimiter}}{{role}}<extension>.
var templateRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(.+)/\{\{\s*domain\s*\}\}\{\{\s*delimiter\s*\}\}\{\{\s*role\s*\}\}(\.[a-z.]+)$`)
})

// templateDir returns the directory of a template for files with extension
// ext, if sia-agent can write them there under the same names.
func templateDir(template, ext string) (string, bool) {
	m := templateRE().FindStringSubmatch(template)
	if m == nil || m[2] != ext {
		return "", false
	}
	return m[1], true
}

// targets are TARGET_DOMAIN_ROLES's entries: <domain>:role.<role>, or a
// domain alone (tokens for every role the identity has there).
type target struct{ domain, role string }

func (c *converter) targets() []target {
	var out []target
	for _, e := range c.list("TARGET_DOMAIN_ROLES") {
		d, r, _ := strings.Cut(e, ":role.")
		out = append(out, target{domain: d, role: r})
	}
	return out
}

// roleCerts maps the role certificate variables and returns the glob of
// the certificates' files, or "" when there are none.
func (c *converter) roleCerts(t *typed[cert.Config]) string {
	dir, format := c.get("ROLECERT_DIR"), c.get("ROLE_CERT_NAMING_FORMAT")
	keyFormat := c.get("ROLE_CERT_KEY_NAMING_FORMAT")
	keyOutput := c.boolean("ROLE_CERT_KEY_FILE_OUTPUT")
	delimiter := c.get("ROLE_CERT_FILENAME_DELIMITER")
	var roles []string
	if dir != "" || format != "" {
		for _, t := range c.targets() {
			if t.role != "" {
				roles = append(roles, literal(t.domain+":role."+t.role))
			}
		}
	}
	n, ok := c.roleCertNames(dir, format, keyFormat, keyOutput)
	switch {
	case !ok:
		return ""
	case n.glob == "":
		c.ignore("no ROLECERT_DIR: no role certificates", "ROLE_CERT_FILENAME_DELIMITER")
		return ""
	case len(roles) == 0:
		c.note(n.from, "no <domain>:role.<role> entry in TARGET_DOMAIN_ROLES: no role certificates")
		return ""
	}
	rc := &t.cfg.RoleCerts
	set(t, &rc.Targets, roles, "TARGET_DOMAIN_ROLES")
	n.set(t)
	if delimiter != "" {
		set(t, &rc.Delimiter, literal(delimiter), "ROLE_CERT_FILENAME_DELIMITER")
	}
	switch bundle := c.get("INTERMEDIATE_CERT_BUNDLE"); {
	case bundle == "":
	case !bundleNameRE().MatchString(bundle):
		c.invalid("INTERMEDIATE_CERT_BUNDLE", "%q is not the name of a ZTS CA bundle (e.g. athenz): ZTS refuses it", bundle)
	default:
		set(t, &rc.IntermediateBundle, bundle, "INTERMEDIATE_CERT_BUNDLE")
	}
	return n.glob
}

// roleNaming is how the role certificates' files are named: in a
// directory, k8s-athenz-sia's default names, or by templates.
type roleNaming struct {
	dir, certName, keyName string
	keyOutput              bool
	from                   string // the variable that named the certificates
	glob                   string // the certificates' files; "" for none
}

func (n roleNaming) set(t *typed[cert.Config]) {
	rc := &t.cfg.RoleCerts
	if n.dir != "" {
		set(t, &rc.Dir, literal(n.dir), n.from)
	}
	if n.certName != "" {
		set(t, &rc.CertName, literal(n.certName), n.from)
	}
	if n.keyName != "" {
		set(t, &rc.KeyName, literal(n.keyName), "ROLE_CERT_KEY_NAMING_FORMAT")
	}
	if n.keyOutput {
		from := "ROLE_CERT_KEY_FILE_OUTPUT"
		if n.from == "ROLE_CERT_NAMING_FORMAT" {
			from = "ROLE_CERT_KEY_NAMING_FORMAT"
		}
		set(t, &rc.KeyOutput, true, from)
	}
}

// roleCertNames maps ROLECERT_DIR or the naming formats; ok is false when
// they contradict each other.
func (c *converter) roleCertNames(dir, format, keyFormat string, keyOutput bool) (n roleNaming, ok bool) {
	switch {
	case dir != "" && format != "":
		c.invalid("ROLE_CERT_NAMING_FORMAT", "set together with ROLECERT_DIR: set one of them")
		return n, false
	case dir != "" && keyFormat != "":
		c.invalid("ROLE_CERT_KEY_NAMING_FORMAT", "set together with ROLECERT_DIR: set one of them")
		return n, false
	case dir != "":
		return roleNaming{dir: dir, keyOutput: keyOutput, from: "ROLECERT_DIR", glob: filepath.Join(dir, "*.cert.pem")}, true
	case format == "":
		c.ignore("no ROLECERT_DIR or ROLE_CERT_NAMING_FORMAT: no role certificates", "ROLE_CERT_KEY_NAMING_FORMAT")
		if keyOutput {
			c.invalid("ROLE_CERT_KEY_FILE_OUTPUT", "needs ROLECERT_DIR")
		}
		return n, true
	}
	n.from, ok = "ROLE_CERT_NAMING_FORMAT", true
	if err := checkTemplate(format); err != nil {
		c.invalid("ROLE_CERT_NAMING_FORMAT", "%v", err)
		ok = false
	}
	if d, isDir := templateDir(format, ".cert.pem"); isDir {
		n.dir, n.glob, n.keyOutput = d, filepath.Join(d, "*.cert.pem"), keyOutput
	} else {
		n.certName, n.glob = format, templateGlob(format)
	}
	switch {
	case keyFormat == "":
		if keyOutput && n.dir == "" {
			c.invalid("ROLE_CERT_KEY_FILE_OUTPUT", "needs ROLECERT_DIR or ROLE_CERT_KEY_NAMING_FORMAT")
			ok = false
		}
	case isKeyInDir(keyFormat, n.dir):
		n.keyOutput = true
	default:
		if err := checkTemplate(keyFormat); err != nil {
			c.invalid("ROLE_CERT_KEY_NAMING_FORMAT", "%v", err)
			return n, false
		}
		n.keyName = keyFormat
	}
	return n, ok
}

// isKeyInDir reports a key naming format that names the keys as
// role_certs.key_output does in dir.
func isKeyInDir(keyFormat, dir string) bool {
	d, ok := templateDir(keyFormat, ".key.pem")
	return ok && dir != "" && d == dir
}

// fieldRE matches a template's {{field}}.
var fieldRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{\{\s*(domain|role|delimiter)\s*\}\}`) })

// checkTemplate checks a naming template: {{domain}}, {{role}} and
// {{delimiter}} in text, nothing else in braces (k8s-athenz-sia refuses
// a template it cannot parse, and has no other function).
func checkTemplate(template string) error {
	if rest := fieldRE().ReplaceAllString(template, ""); strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return fmt.Errorf("%q: a template holds {{domain}}, {{role}} and {{delimiter}}, and nothing else in {{ }}", template)
	}
	return nil
}

// templateGlob is the glob of the files a naming template names.
func templateGlob(template string) string { return fieldRE().ReplaceAllString(template, "*") }

// bundleNameRE matches the name of a ZTS CA bundle, an Athenz simple name.
var bundleNameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_-]*$`)
})
