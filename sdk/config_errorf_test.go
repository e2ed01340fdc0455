package sdk

import (
	"errors"
	"testing"
)

func TestConfigErrorfLines(t *testing.T) {
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
	for key, want := range map[string]int{
		"address":         1,
		"identity":        2,
		"identity.domain": 3,
		"identity.ips":    4,
		"identity.ips[1]": 6,
		"roles[1]":        7,
		"identity.nosuch": 2, // the deepest part that exists
		"nosuch.x":        1,
	} {
		var p *Problem
		if !errors.As(cfg.Errorf(key, "x"), &p) || p.Line != want {
			t.Errorf("Errorf(%q): line %d, want %d", key, p.Line, want)
		}
	}
}
