package pluginpb

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// A problem's path crosses the wire step by step: a key with dots stays
// one key, and the agent never reads the key's text back into a path.
func TestProblemRoundTrip(t *testing.T) {
	in := &conf.Problem{File: "p.yaml", Line: 7, Column: 3, Path: conf.P("providers", "cert.v2", "config", "targets", 1), Message: "bad"}
	data, err := proto.Marshal(FromProblem(in))
	if err != nil {
		t.Fatal(err)
	}
	var wire Problem
	if err := proto.Unmarshal(data, &wire); err != nil {
		t.Fatal(err)
	}
	if wire.GetKey() != "providers.cert.v2.config.targets[1]" {
		t.Errorf("key = %q", wire.GetKey())
	}
	out := wire.Conf()
	if *out != *in {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	if !out.Path.HasPrefix(conf.P("providers", "cert.v2")) || out.Path.HasPrefix(conf.P("providers", "cert")) {
		t.Errorf("path %s lost its steps", out.Path)
	}
}

// A plugin that sends only the key's text is shown as it was.
func TestProblemWithoutPath(t *testing.T) {
	p := (&Problem{File: "p.yaml", Line: 2, Key: "providers.a.config.x", Message: "bad"}).Conf()
	if p.Error() != "p.yaml:2: providers.a.config.x: bad" {
		t.Errorf("problem = %v", p)
	}
	if p := (&Problem{Message: "bad"}).Conf(); !p.Path.IsRoot() || p.Error() != "bad" {
		t.Errorf("problem = %v", p)
	}
}
