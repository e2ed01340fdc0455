package sdk

import (
	"testing"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

func TestConfigProblemLines(t *testing.T) {
	cfg, err := ParseConfig("p.yaml", `address: ":1"
identity:
  domain: d
  ips:
    - 10.0.0.1
    - bad
roles: [a, b]
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  conf.Path
		want int
	}{
		{conf.P("address"), 1},
		{conf.P("identity"), 2},
		{conf.P("identity", "domain"), 3},
		{conf.P("identity", "ips"), 4},
		{conf.P("identity", "ips", 1), 6},
		{conf.P("roles", 1), 7},
		{conf.P("identity", "nosuch"), 2}, // the deepest part that exists
		{conf.P("nosuch", "x"), 1},
	} {
		ps := conf.AsProblems(cfg.Decode(&checked{keys: []conf.Path{c.key}}))
		if len(ps) != 1 || ps[0].Line != c.want {
			t.Errorf("problem at %s: %v, want line %d", c.key, ps, c.want)
		}
	}
}
