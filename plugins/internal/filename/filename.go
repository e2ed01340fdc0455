// Package filename expands the templates that name role certificate and
// token files, in k8s-athenz-sia's syntax: text with {{domain}}, {{role}}
// and {{delimiter}} in it (spaces inside the braces allowed), e.g.
// /var/run/athenz/rolecerts/{{domain}}{{delimiter}}{{role}}.cert.pem.
// The delimiter is left out when there is no role (a token for a whole
// domain), as k8s-athenz-sia does.
package filename

import (
	"fmt"
	"strings"
)

// Template is a parsed file name template.
type Template struct {
	parts []part
}

type part struct {
	text  string
	field string // "domain", "role" or "delimiter"; "" for text
}

// Fields a template may hold.
const (
	Domain    = "domain"
	Role      = "role"
	Delimiter = "delimiter"
)

// Parse parses a template. Anything between {{ and }} but the three
// fields is an error, and so is an unclosed {{.
func Parse(s string) (Template, error) {
	var t Template
	for rest := s; rest != ""; {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return Template{}, fmt.Errorf("%q: {{ without }}", s)
		}
		field := strings.TrimSpace(rest[open+2 : open+end])
		switch field {
		case Domain, Role, Delimiter:
		default:
			return Template{}, fmt.Errorf("%q: unknown {{%s}}: a template holds {{domain}}, {{role}} and {{delimiter}}", s, field)
		}
		t.parts = append(t.parts, part{field: field})
		rest = rest[open+end+2:]
	}
	return t, nil
}

// Has reports whether the template holds field.
func (t Template) Has(field string) bool {
	for _, p := range t.parts {
		if p.field == field {
			return true
		}
	}
	return false
}

// IsZero reports an empty template (none configured).
func (t Template) IsZero() bool { return len(t.parts) == 0 }

// Expand returns the file name for domain and role, delimiter between
// them; with no role the delimiter is left out.
func (t Template) Expand(domain, role, delimiter string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.text)
		case Domain:
			b.WriteString(domain)
		case Role:
			b.WriteString(role)
		case Delimiter:
			if role != "" {
				b.WriteString(delimiter)
			}
		}
	}
	return b.String()
}
