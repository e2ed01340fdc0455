package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

func TestAliasBombInConfigIsRefused(t *testing.T) {
	dir := fixture(t)
	var b strings.Builder
	b.WriteString("version: 1\nagent:\n  plugin_dir: bin\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n")
	b.WriteString("      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 6; i++ { // 10^6 nodes once expanded
		fmt.Fprintf(&b, "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err := parse(t, dir, b.String(), Options{})
	if err == nil || !strings.Contains(err.Error(), "providers[0].config.l5: holds more than 4 MiB once its aliases are expanded") {
		t.Fatalf("error = %v, want the alias bomb refused", err)
	}
}

func TestAliasesWithinBudgetAreFine(t *testing.T) {
	dir := fixture(t)
	text := "version: 1\nagent:\n  plugin_dir: bin\nproviders:\n  - name: a\n    plugin: sia-plugin-a\n    config:\n      base: &b {x: 1}\n      copy: *b\n"
	if _, err := parse(t, dir, text, Options{}); err != nil {
		t.Fatal(err)
	}
}
