package builtin

import (
	"slices"
	"testing"
)

func TestEveryNameHasAProvider(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %q, not sorted", names)
	}
	for _, n := range names {
		if p, ok := New(n); !ok || p == nil {
			t.Errorf("New(%q) = %v, %v", n, p, ok)
		}
	}
	if _, ok := New("sia-plugin-cert"); ok {
		t.Error("New knows a binary's name")
	}
}

func TestOnlyTheTokenProviderRunsOnEveryProcessor(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	for _, n := range Names() {
		env := Env(n)
		if n == "token" && len(env) != 0 || n != "token" && !slices.Equal(env, []string{"GOMAXPROCS=1"}) {
			t.Errorf("Env(%q) = %q", n, env)
		}
	}
	t.Setenv("GOMAXPROCS", "4")
	if env := Env("cert"); len(env) != 0 {
		t.Errorf("with the operator's GOMAXPROCS, Env(cert) = %q", env)
	}
}
