package filename

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		template, domain, role, delimiter, want string
	}{
		{"/r/{{domain}}{{delimiter}}{{role}}.cert.pem", "sia.demo", "reader", ":role.", "/r/sia.demo:role.reader.cert.pem"},
		{"/r/{{ domain }}{{ delimiter }}{{ role }}.cert.pem", "sia.demo", "reader", "_", "/r/sia.demo_reader.cert.pem"},
		{"/t/{{domain}}{{delimiter}}{{role}}.accesstoken", "sia.demo", "", ":role.", "/t/sia.demo.accesstoken"},
		{"/r/{{role}}/{{domain}}.pem", "d", "r", "", "/r/r/d.pem"},
		{"plain.pem", "d", "r", "", "plain.pem"},
	} {
		tpl, err := Parse(tc.template)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.template, err)
		}
		if got := tpl.Expand(tc.domain, tc.role, tc.delimiter); got != tc.want {
			t.Errorf("%q.Expand(%q, %q, %q) = %q, want %q", tc.template, tc.domain, tc.role, tc.delimiter, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for template, want := range map[string]string{
		"/r/{{domain}}{{service}}.pem": "unknown {{service}}",
		"/r/{{domain}.pem":             "{{ without }}",
		"/r/{{printf \"%s\" .}}.pem":   "unknown {{printf",
	} {
		if _, err := Parse(template); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): %v, want %q", template, err, want)
		}
	}
}

func TestHas(t *testing.T) {
	tpl, _ := Parse("/r/{{domain}}.pem")
	if !tpl.Has(Domain) || tpl.Has(Role) || tpl.IsZero() {
		t.Errorf("Has: %+v", tpl)
	}
	if z, _ := Parse(""); !z.IsZero() {
		t.Error("an empty template is not zero")
	}
}
