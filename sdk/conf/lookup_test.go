package conf

import "testing"

func TestLookup(t *testing.T) {
	doc := parse(t, `version: 1
providers:
  - name: a
    sha256: x
  - name: b
profiles:
  eu.prod:
    providers:
      a.v1: {}
defaults: &d
  domain: sports
  nested: {deep: 1}
roles:
  - <<: *d
    name: readers
  - *d
  - <<: [{extra: 1}, *d]
`)
	cases := []struct {
		path  Path
		line  int
		value string // of the node found; "-" for none
	}{
		{Path{}, 1, ""},
		{P("version"), 1, "1"},
		{P("providers"), 2, ""},
		{P("providers", 0), 3, ""},
		{P("providers", 0, "sha256"), 4, "x"},
		{P("providers", 1), 5, ""},
		{P("providers", 1, "name"), 5, "b"},
		// What does not exist is reported at the deepest part that does.
		{P("providers", 7), 2, "-"},
		{P("providers", 1, "nothing"), 5, "-"},
		{P("providers", "name"), 2, "-"},
		{P("version", 0), 1, "-"},
		{P("missing"), 1, "-"},
		// Keys are taken whole.
		{P("profiles", "eu.prod", "providers", "a.v1"), 9, ""},
		{P("profiles", "eu.prod", "providers", "missing", "key"), 8, "-"},
		{P("profiles", "eu", "prod"), 6, "-"},
		// Aliases are followed, and merge keys.
		{P("roles", 0, "name"), 15, "readers"},
		{P("roles", 0, "domain"), 11, "sports"},
		{P("roles", 0, "nested", "deep"), 12, "1"},
		{P("roles", 1), 16, ""},
		{P("roles", 1, "domain"), 11, "sports"},
		{P("roles", 2, "extra"), 17, "1"},
		{P("roles", 2, "domain"), 11, "sports"},
		{P("roles", 2, "nowhere"), 17, "-"},
	}
	for _, c := range cases {
		n, line := Lookup(doc, c.path)
		if line != c.line {
			t.Errorf("Lookup(%s): line %d, want %d", c.path, line, c.line)
		}
		switch {
		case c.value == "-" && n != nil:
			t.Errorf("Lookup(%s) found %+v, want nothing", c.path, n)
		case c.value != "-" && (n == nil || n.Value != c.value):
			t.Errorf("Lookup(%s) = %+v, want value %q", c.path, n, c.value)
		}
	}
	if n, line := Lookup(nil, P("a")); n != nil || line != 0 {
		t.Errorf("Lookup(nil) = %v, %d", n, line)
	}
}

// A merge key that merges its own mapping in cannot make Lookup loop.
func TestLookupSelfMerge(t *testing.T) {
	doc := parse(t, "a: &a {<<: *a, x: 1}\n")
	if n, line := Lookup(doc, P("a", "nothing")); n != nil || line != 1 {
		t.Errorf("Lookup = %v, %d", n, line)
	}
	if n, _ := Lookup(doc, P("a", "x")); n == nil || n.Value != "1" {
		t.Errorf("key not found: %v", n)
	}
}
