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
