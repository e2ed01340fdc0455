package ztsdev

import (
	"slices"
	"strings"
	"time"
)

// domainIndex is a Domain with lookup maps, built once per config load.
type domainIndex struct {
	*Domain
	services map[string]*Service
	roles    map[string]*Role
}

func newDomainIndex(d *Domain) *domainIndex {
	di := &domainIndex{
		Domain:   d,
		services: make(map[string]*Service, len(d.Services)),
		roles:    make(map[string]*Role, len(d.Roles)),
	}
	for i := range d.Services {
		di.services[d.Services[i].Name] = &d.Services[i]
	}
	for i := range d.Roles {
		di.roles[d.Roles[i].Name] = &d.Roles[i]
	}
	return di
}

// accessibleRoles returns the sorted short names of the roles principal p
// belongs to at now (DataStore.getAccessibleRoles without groups and
// delegation), restricted to requested when it is non-nil. Real ZTS matches
// a requested name as a suffix of "d:role.<name>"; zts-dev uses exact names.
func (d *domainIndex) accessibleRoles(p string, requested []string, now time.Time) []string {
	var roles []string
	for _, r := range d.Roles {
		if requested != nil && !slices.Contains(requested, r.Name) {
			continue
		}
		if r.hasMember(p, now) {
			roles = append(roles, r.Name)
		}
	}
	slices.Sort(roles)
	return roles
}

// hasMember reports whether p is a current member: exactly, through "*",
// or through a prefix wildcard. Expired members are not members.
func (r *Role) hasMember(p string, now time.Time) bool {
	for _, m := range r.Members {
		if m.Expiration != nil && !now.Before(*m.Expiration) {
			continue
		}
		switch {
		case m.Name == p, m.Name == "*":
			return true
		case strings.HasSuffix(m.Name, "*") && strings.HasPrefix(p, m.Name[:len(m.Name)-1]):
			return true
		}
	}
	return false
}

// tokenExpiryCapMins is getConfiguredTokenExpiryTimeMins: the smallest
// positive role tokenExpiryMins among roles, else the domain's; 0 = no cap.
func (d *domainIndex) tokenExpiryCapMins(roles []string) int {
	return d.cap(roles, func(r *Role) int { return r.TokenExpiryMins }, d.TokenExpiryMins)
}

// roleCertExpiryCapMins is getConfiguredRoleCertExpiryTimeMins.
func (d *domainIndex) roleCertExpiryCapMins(roles []string) int {
	return d.cap(roles, func(r *Role) int { return r.CertExpiryMins }, d.RoleCertExpiryMins)
}

func (d *domainIndex) cap(roles []string, roleVal func(*Role) int, domainVal int) int {
	least := 0
	for _, name := range roles {
		r := d.roles[name]
		if r == nil {
			continue
		}
		if v := roleVal(r); v > 0 && (least == 0 || v < least) {
			least = v
		}
	}
	if least == 0 && domainVal > 0 {
		least = domainVal
	}
	return least
}

// tokenTimeout is determineTokenTimeout, in seconds: maxExpiry if given,
// else minExpiry if it exceeds the default, else the default; then capped by
// the server maximum and by the role/domain tokenExpiryMins.
func tokenTimeout(s *ServerConfig, d *domainIndex, roles []string, minExpiry, maxExpiry int) int64 {
	t := int64(s.RoleTokenDefaultSecs)
	switch {
	case maxExpiry > 0:
		t = int64(maxExpiry)
	case minExpiry > s.RoleTokenDefaultSecs:
		t = int64(minExpiry)
	}
	t = min(t, int64(s.RoleTokenMaxSecs))
	if c := int64(d.tokenExpiryCapMins(roles)) * 60; c > 0 && c < t {
		t = c
	}
	return t
}

// roleCertTimeout is determineRoleCertTimeout, in minutes, with the
// signer's default and maximum applied (0 means the default).
func roleCertTimeout(s *ServerConfig, d *domainIndex, roles []string, reqMins int64) time.Duration {
	m := int64(d.roleCertExpiryCapMins(roles))
	if reqMins > 0 && (m == 0 || reqMins < m) {
		m = reqMins
	}
	return certValidity(s, m)
}

// certValidity applies the signer's default (for 0) and maximum.
func certValidity(s *ServerConfig, mins int64) time.Duration {
	if mins <= 0 {
		mins = int64(s.CertDefaultMins)
	}
	mins = min(mins, int64(s.CertMaxMins))
	return time.Duration(mins) * time.Minute
}
