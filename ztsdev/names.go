package ztsdev

import (
	"regexp"
	"strings"
)

// Name patterns from core/zts/src/main/rdl/Names.tdl. The official client
// validates responses against them, so the server must never hand out a name
// that does not match.
const (
	simpleNamePattern   = `[a-zA-Z0-9_][a-zA-Z0-9_-]*`
	compoundNamePattern = `(` + simpleNamePattern + `\.)*` + simpleNamePattern
)

var (
	simpleNameRE   = regexp.MustCompile(`^` + simpleNamePattern + `$`)
	compoundNameRE = regexp.MustCompile(`^` + compoundNamePattern + `$`)
	entityListRE   = regexp.MustCompile(`^(` + compoundNamePattern + `,)*` + compoundNamePattern + `$`)
	pathElementRE  = regexp.MustCompile(`^[a-zA-Z0-9-\._~=+@$,:]*$`)
)

func isSimpleName(s string) bool   { return simpleNameRE.MatchString(s) }
func isCompoundName(s string) bool { return compoundNameRE.MatchString(s) }
func isEntityList(s string) bool   { return entityListRE.MatchString(s) }
func isPathElement(s string) bool  { return pathElementRE.MatchString(s) }

// DomainName, ServiceName and EntityName are all CompoundName in the RDL.
func isDomainName(s string) bool  { return isCompoundName(s) }
func isServiceName(s string) bool { return isCompoundName(s) }
func isEntityName(s string) bool  { return isCompoundName(s) }

// splitServiceName splits "domain.service" at the last dot, as Athenz does.
func splitServiceName(name string) (domain, service string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// roleSep separates domain and role in a role certificate CN.
const roleSep = ":role."

// splitRoleName splits "domain:role.name".
func splitRoleName(cn string) (domain, role string, ok bool) {
	i := strings.Index(cn, roleSep)
	if i <= 0 || i+len(roleSep) >= len(cn) {
		return "", "", false
	}
	return cn[:i], cn[i+len(roleSep):], true
}
