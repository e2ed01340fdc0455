package names

import "testing"

func TestValid(t *testing.T) {
	for name, want := range map[string]bool{
		"token": true, "cert-1": true, "a.b_c": true, "9lives": true,
		"": false, "-x": false, ".x": false, "a b": false, "a/b": false, "é": false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v", name, got)
		}
	}
}
