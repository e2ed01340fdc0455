package siaenv

import (
	"strings"

	"github.com/sia-agent/sia-agent/plugins/k8ssecret"
)

// The k8s-secret provider: its name in the pipeline and its plugin
// binary, which the agent finds beside its own.
const (
	backupName   = "backup"
	backupPlugin = "sia-plugin-k8s-secret"
)

// backup maps BACKUP and CERT_SECRET to the k8s-secret provider, which
// goes before the cert provider so that a restored identity is there when
// it starts; nil without a backup.
func (c *converter) backup(id identity) *typed[k8ssecret.Config] {
	mode, secret := c.get("BACKUP"), c.get("CERT_SECRET")
	switch {
	case mode == "" && secret == "":
		return nil
	case mode == "":
		c.note("CERT_SECRET", "ignored: no BACKUP names what to do with the Secret (k8s-athenz-sia ignored it too)")
		return nil
	case secret == "":
		c.invalid("BACKUP", "%q needs CERT_SECRET, the name of the Secret", mode)
		return nil
	}
	read, write := strings.Contains(mode, "read"), strings.Contains(mode, "write")
	if write && !id.register {
		c.note("BACKUP", "write: ignored without PROVIDER_SERVICE, as k8s-athenz-sia backed up only an identity it fetched")
		write = false
	}
	var m string
	switch {
	case read && write:
		m = "read+write"
	case read:
		m = "read"
	case write:
		m = "write"
	default:
		c.invalid("BACKUP", "%q names neither read nor write", mode)
		return nil
	}
	t := newTyped[k8ssecret.Config]()
	set(t, &t.cfg.Secret, literal(secret), "CERT_SECRET")
	if c.get("NAMESPACE") != "" {
		set(t, &t.cfg.Namespace, c.ref("NAMESPACE"), "NAMESPACE")
	}
	set(t, &t.cfg.Mode, m, "BACKUP")
	set(t, &t.cfg.KeyFile, literal(id.keyFile), "KEY_FILE")
	set(t, &t.cfg.CertFile, literal(id.certFile), "CERT_FILE")
	return t
}
