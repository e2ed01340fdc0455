package sdk

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// reconfigurable records the configs it was given and answers err.
type reconfigurable struct {
	printer
	got []string
	err error
}

func (r *reconfigurable) Reconfigure(_ context.Context, cfg Config) error {
	var v struct {
		Value string `yaml:"value"`
	}
	if err := cfg.Decode(&v); err != nil {
		return err
	}
	r.got = append(r.got, v.Value)
	return r.err
}

func configNode(t *testing.T, text string) *pluginpb.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return pluginpb.FromYAML(doc.Content[0])
}

func validated(t *testing.T, p Provider) *server {
	t.Helper()
	s := newServer(p, hclog.NewNullLogger(), nil, nil)
	if _, err := s.Validate(context.Background(), &pluginpb.ValidateRequest{Name: "p", File: "f.yaml", Config: configNode(t, "value: old\n")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReconfigureAppliesTheConfig(t *testing.T) {
	p := &reconfigurable{}
	s := validated(t, p)
	resp, err := s.Reconfigure(context.Background(), &pluginpb.ReconfigureRequest{File: "f.yaml", Config: configNode(t, "value: new\n")})
	if err != nil || resp.GetError() != "" || resp.GetRestartRequired() {
		t.Fatalf("Reconfigure = %v, %v", resp, err)
	}
	if len(p.got) != 1 || p.got[0] != "new" {
		t.Errorf("the provider got %q, want [new]", p.got)
	}
	var v struct{ Value string }
	if err := s.rt.Config.Decode(&v); err != nil || v.Value != "new" {
		t.Errorf("the runtime's config is %q (%v), want the new one", v.Value, err)
	}
}

func TestReconfigureSaysWhenARestartIsNeeded(t *testing.T) {
	for name, tc := range map[string]struct {
		p       Provider
		restart bool
	}{
		"no Reconfigurer": {printer{}, true},
		"RestartRequired": {&reconfigurable{err: RestartRequired("address")}, true},
		"wrapped":         {&reconfigurable{err: errors.Join(errors.New("x"), RestartRequired("address"))}, true},
		"another error":   {&reconfigurable{err: errors.New("broken")}, false},
	} {
		t.Run(name, func(t *testing.T) {
			s := validated(t, tc.p)
			resp, err := s.Reconfigure(context.Background(), &pluginpb.ReconfigureRequest{File: "f.yaml", Config: configNode(t, "value: new\n")})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRestartRequired() != tc.restart || resp.GetError() == "" {
				t.Errorf("Reconfigure = %v, want restart_required %v and an error", resp, tc.restart)
			}
			var v struct{ Value string }
			if err := s.rt.Config.Decode(&v); err != nil || v.Value != "old" {
				t.Errorf("the runtime's config is %q (%v), want the old one kept", v.Value, err)
			}
		})
	}
}
