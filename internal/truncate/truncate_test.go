package truncate

import (
	"strings"
	"testing"
)

func TestStringKeepsRunes(t *testing.T) {
	s := strings.Repeat("é", 10) // 2 bytes each
	if got, want := String(s, 5), "éé ... [16 bytes cut]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := String("short", 5); got != "short" {
		t.Errorf("String of a short string = %q", got)
	}
	if got := String("exact", 5); got != "exact" {
		t.Errorf("String of a string of n bytes = %q", got)
	}
}
