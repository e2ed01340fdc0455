package pipeline

import (
	"strings"
	"testing"
)

// A byte YAML does not allow is reported at its line and column, counted
// in characters as an editor shows them.
func TestBadBytesNameLineAndColumn(t *testing.T) {
	dir := fixture(t)
	provider := "providers:\n  - name: a\n    plugin: sia-plugin-a\n"
	for _, c := range []struct {
		name, text   string
		line, column int
		message      string
	}{
		{"NUL in a value", header + provider + "    config: {x: a\x00b}\n", 7, 18, "NUL byte"},
		{"invalid UTF-8 in a value", header + provider + "    config: {x: \xff}\n", 7, 17, "invalid UTF-8 (byte 0xFF)"},
		{"invalid UTF-8 after multibyte characters", header + provider + "    config: {x: \"héllo\xc3\"}\n", 7, 23, "invalid UTF-8 (byte 0xC3)"},
		{"invalid UTF-8 in a comment", "# caf\xe9\n" + header + provider, 1, 6, "invalid UTF-8 (byte 0xE9)"},
		{"an encoded surrogate", header + "# \xed\xa0\x80\n" + provider, 4, 3, "invalid UTF-8 (byte 0xED)"},
		{"control character", header + provider + "    config: {x: \"\x01\"}\n", 7, 18, `control character U+0001 is not allowed (write it as "\u0001"`},
		{"DEL", header + "\x7f\n" + provider, 4, 1, "control character U+007F"},
		{"C1 control", header + provider + "    config: {x: \u0090}\n", 7, 17, "control character U+0090"},
		{"after CRLF lines", strings.ReplaceAll(header+provider, "\n", "\r\n") + "\x00", 7, 1, "NUL byte"},
		{"after CR lines", strings.ReplaceAll(header+provider, "\n", "\r") + "x\x00", 7, 2, "NUL byte"},
		{"after a NEL", header + provider + "# a\u0085b\x00\n", 8, 2, "NUL byte"},
		{"UTF-16 without a byte order mark", "v\x00e\x00r\x00", 1, 2, "UTF-16 without a byte order mark"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := parse(t, dir, c.text, Options{})
			if p != nil {
				t.Errorf("want no pipeline, got %+v", p)
			}
			pb := findProblem(t, err, c.line, "", c.message)
			if pb.Column != c.column {
				t.Errorf("column %d, want %d: %v", pb.Column, c.column, pb)
			}
		})
	}
}

// What YAML allows passes: tabs, a byte order mark, any printable
// character, and a UTF-16 file with its byte order mark.
func TestGoodTextPasses(t *testing.T) {
	dir := fixture(t)
	text := "\ufeff" + header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n    config: {x: \"tab\there\", y: 日本語 😀, z: \"\\0 escaped\"}\n"
	mustParse(t, dir, text, Options{})

	utf16 := []byte{0xff, 0xfe}
	for _, r := range header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	p := mustParse(t, dir, string(utf16), Options{})
	if p.Providers[0].Name != "a" {
		t.Errorf("UTF-16 file: %+v", p.Providers[0])
	}
}
