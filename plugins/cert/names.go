package cert

import (
	"path/filepath"

	"github.com/sia-agent/sia-agent/plugins/internal/filename"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// roleFileNames names a role's certificate and key files: by the templates
// role_certs.cert_name and key_name, else in the role directory.
type roleFileNames struct {
	base            string // where relative template names start
	dir             string // the role directory, without templates
	certTpl, keyTpl filename.Template
	hasCert, hasKey bool
}

// names returns the naming of rc's files; rc was validated.
func (rc RoleCertsConfig) names(base, dir string) roleFileNames {
	n := roleFileNames{base: base, dir: dir}
	n.certTpl, _ = filename.Parse(rc.CertName)
	n.keyTpl, _ = filename.Parse(rc.KeyName)
	n.hasCert, n.hasKey = rc.CertName != "", rc.KeyName != ""
	return n
}

func (n roleFileNames) cert(t roleTarget, delimiter string) string {
	if n.hasCert {
		return resolve(n.base, n.certTpl.Expand(t.Domain, t.Role, delimiter))
	}
	return filepath.Join(n.dir, t.Domain+delimiter+t.Role+".cert.pem")
}

func (n roleFileNames) key(t roleTarget, delimiter string) string {
	if n.hasKey {
		return resolve(n.base, n.keyTpl.Expand(t.Domain, t.Role, delimiter))
	}
	return filepath.Join(n.dir, t.Domain+delimiter+t.Role+".key.pem")
}

// checkNames checks the templates, what they go with, and that every
// role's files get names of their own.
func (rc RoleCertsConfig) checkNames(check *conf.Checker) {
	_, certErr := filename.Parse(rc.CertName)
	_, keyErr := filename.Parse(rc.KeyName)
	switch {
	case certErr != nil:
		check.Errorf("cert_name", "%v", certErr)
	case rc.CertName != "" && rc.Dir != "":
		check.Errorf("cert_name", "set together with role_certs.dir: set one of them")
	case rc.CertName != "" && rc.CombinedOutput:
		check.Errorf("combined_output", "not with role_certs.cert_name: combined files are named in role_certs.dir")
	case rc.CertName != "" && rc.KeyOutput && rc.KeyName == "":
		check.Errorf("key_output", "with role_certs.cert_name, name the keys with role_certs.key_name")
	}
	if keyErr != nil {
		check.Errorf("key_name", "%v", keyErr)
	}
	if certErr != nil || keyErr != nil {
		return
	}
	rc.checkDistinct(check)
}

// checkDistinct checks that no two files of the roles share a name, and
// that a role's key and certificate, links into one directory, have base
// names of their own.
func (rc RoleCertsConfig) checkDistinct(check *conf.Checker) {
	roles, _ := rc.targets()
	n := rc.names("", "")
	withKeys := rc.KeyOutput || rc.KeyName != ""
	owner := make(map[string]roleTarget)
	claim := func(key, name string, t roleTarget) bool {
		if other, ok := owner[name]; ok {
			check.Errorf(key, "%s and %s would both be written to %s: name them apart (with {{domain}} and {{role}})", other, t, name)
			return false
		}
		owner[name] = t
		return true
	}
	for _, t := range roles {
		cert := n.cert(t, rc.Delimiter)
		if !claim("cert_name", cert, t) || !withKeys {
			continue
		}
		key := n.key(t, rc.Delimiter)
		if !claim("key_name", key, t) {
			continue
		}
		if filepath.Base(key) == filepath.Base(cert) {
			check.Errorf("key_name", "%s: the key and the certificate need base names of their own: both files are links into one directory", t)
		}
	}
}
