package conf

import (
	"reflect"
	"testing"
)

func TestPathString(t *testing.T) {
	cases := []struct {
		path Path
		want string
	}{
		{Path{}, ""},
		{P("version"), "version"},
		{P("providers", 2, "config", "targets", 0, "domain"), "providers[2].config.targets[0].domain"},
		{P(0, "a"), "[0].a"},
		{P("m", 1, 2), "m[1][2]"},
		// A key is taken whole: dots and brackets are part of it.
		{P("profiles", "eu.prod", "providers", "cert[v2]"), "profiles.eu.prod.providers.cert[v2]"},
		{P("a", "", "b"), "a..b"},
		{Path{}.Key("x").Index(300).Key("y"), "x[300].y"},
		{P(P("a", 1), Step{Key: "b"}, Step{Index: 7, IsIndex: true}), "a[1].b[7]"},
	}
	for _, c := range cases {
		if got := c.path.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestPathSteps(t *testing.T) {
	long := string(make([]byte, 300)) // a key longer than a one-byte length
	p := P("providers", 1<<20, long, 0)
	want := []Step{{Key: "providers"}, {Index: 1 << 20, IsIndex: true}, {Key: long}, {IsIndex: true}}
	if got := p.Steps(); !reflect.DeepEqual(got, want) {
		t.Errorf("Steps() = %#v, want %#v", got, want)
	}
	if got := (Path{}).Steps(); len(got) != 0 {
		t.Errorf("root Steps() = %v", got)
	}
	if !(Path{}).IsRoot() || p.IsRoot() {
		t.Error("IsRoot is wrong")
	}
}

// Paths are values: building on one leaves it as it was, and equal steps
// make equal (==) paths, fit to key a map.
func TestPathIsAComparableValue(t *testing.T) {
	base := P("providers", 0)
	a, b := base.Key("name"), base.Key("plugin")
	if base.String() != "providers[0]" || a.String() != "providers[0].name" || b.String() != "providers[0].plugin" {
		t.Errorf("base %s, a %s, b %s", base, a, b)
	}
	if P("x", 1) != (Path{}).Key("x").Index(1) || P("a.b") == P("a", "b") || P(1) == P("1") {
		t.Error("== does not compare steps")
	}
	seen := map[Path]bool{P("a", "b"): true}
	if !seen[P("a").Key("b")] || seen[P("a.b")] {
		t.Error("Path as a map key")
	}
}

func TestPathPrefixes(t *testing.T) {
	p := P("providers", "token", "config", "targets", 1)
	for _, c := range []struct {
		prefix Path
		want   bool
		rest   string
	}{
		{Path{}, true, "providers.token.config.targets[1]"},
		{P("providers", "token"), true, "config.targets[1]"},
		{p, true, ""},
		{P("providers", "tok"), false, ""},              // not a whole step
		{P("providers", "token", "configx"), false, ""}, // nor a longer one
		{P("providers", "token", "config", "targets", 10), false, ""},
		{P("providers.token"), false, ""},
		{p.Key("more"), false, ""},
	} {
		if got := p.HasPrefix(c.prefix); got != c.want {
			t.Errorf("HasPrefix(%s) = %v, want %v", c.prefix, got, c.want)
		}
		rest, ok := p.CutPrefix(c.prefix)
		if ok != c.want || (ok && rest.String() != c.rest) || (!ok && rest != p) {
			t.Errorf("CutPrefix(%s) = %s, %v", c.prefix, rest, ok)
		}
	}
	if got := P("a").Join(P(0, "b")); got != P("a", 0, "b") {
		t.Errorf("Join = %s", got)
	}
}

func TestPathPanicsOnWhatIsNotAStep(t *testing.T) {
	for name, f := range map[string]func(){
		"float":          func() { P(1.5) },
		"negative index": func() { P("a", -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
