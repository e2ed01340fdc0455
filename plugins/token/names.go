package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits on names from requests: far above real Athenz names, low enough
// that a client cannot make the cache hold megabytes per key.
const (
	maxNameLen  = 256
	maxRolesLen = 4096
)

// canonical validates a domain and a comma-separated role list and returns
// them as cache keys hold them: lower-case (ZTS lower-cases names anyway),
// roles trimmed, sorted and deduplicated, so that "Writer, reader" and
// "reader,writer" share one token. Names already in that form are returned
// as they are, without allocating: that is the hot path.
func canonical(domain, roles string) (string, string, error) {
	if domain == "" {
		return "", "", errors.New("domain is required")
	}
	if err := checkCompoundName("domain", domain); err != nil {
		return "", "", err
	}
	if len(roles) > maxRolesLen {
		return "", "", fmt.Errorf("role list longer than %d bytes", maxRolesLen)
	}
	if !isLower(domain) {
		domain = strings.ToLower(domain)
	}
	if rolesCanonical(roles) {
		return domain, roles, nil
	}
	var list []string
	for r := range strings.SplitSeq(roles, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if err := checkCompoundName("role", r); err != nil {
			return "", "", err
		}
		list = append(list, strings.ToLower(r))
	}
	slices.Sort(list)
	return domain, strings.Join(slices.Compact(list), ","), nil
}

// rolesCanonical reports whether roles is a valid list that canonical
// would return unchanged.
func rolesCanonical(roles string) bool {
	if roles == "" {
		return true
	}
	prev := ""
	for r := range strings.SplitSeq(roles, ",") {
		if checkCompoundName("role", r) != nil || !isLower(r) || (prev != "" && r <= prev) {
			return false
		}
		prev = r
	}
	return true
}

// checkPrincipal validates a proxy-for principal (domain.service).
func checkPrincipal(p string) error {
	if p == "" {
		return nil
	}
	return checkCompoundName("proxy_for_principal", p)
}

// checkCompoundName checks s against Athenz's CompoundName,
// ({SimpleName}\.)*{SimpleName} with SimpleName [a-zA-Z0-9_][a-zA-Z0-9_-]*.
func checkCompoundName(what, s string) error {
	if len(s) > maxNameLen {
		return fmt.Errorf("%s longer than %d bytes", what, maxNameLen)
	}
	start := true // at the start of a SimpleName
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			start = false
		case c == '-' && !start:
		case c == '.' && !start:
			start = true
		default:
			return fmt.Errorf("%s %q is not a valid Athenz name", what, s)
		}
	}
	if start {
		return fmt.Errorf("%s %q is not a valid Athenz name", what, s)
	}
	return nil
}

// isSimpleName reports whether s is an Athenz SimpleName.
func isSimpleName(s string) bool {
	return s != "" && !strings.Contains(s, ".") && checkCompoundName("name", s) == nil
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}
