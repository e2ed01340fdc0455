package conf

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	doc, err := Parse("p.yaml", []byte("a: 1\nb: [x]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Kind != yaml.DocumentNode || doc.Content[0].Kind != yaml.MappingNode || doc.Content[0].Content[2].Line != 2 {
		t.Errorf("document %+v", doc)
	}
}

// Text that holds no value parses to no document, and no error: what it
// lacks is for the reader to say.
func TestParseNothing(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# nothing here\n", "---\n", "~\n", "null\n", "--- # x\n...\n"} {
		doc, err := Parse("p.yaml", []byte(text))
		if doc != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nothing", text, doc, err)
		}
	}
}

func TestParseRefusesASecondDocument(t *testing.T) {
	for _, c := range []struct {
		parser     Parser
		text, want string
	}{
		// The line of the second document's "---".
		{Parser{}, "a: 1\n---\nb: 2\n", "p.yaml:2: the file holds more than one YAML document"},
		{Parser{Noun: "pipeline file"}, "a: 1\n---\nb: 2\n", "p.yaml:2: the pipeline file holds more than one YAML document"},
		{Parser{}, "a: 1\n---\nfoo: [\n", "p.yaml:3: YAML syntax: did not find expected node content"},
	} {
		_, err := c.parser.Parse("p.yaml", []byte(c.text))
		if err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q) = %v, want %s", c.text, err, c.want)
		}
	}
}

// TestSyntaxErrorLines pins the line of YAML syntax errors: yaml.v3 reports
// its parser's errors one line early (0-based), and errors at the end of
// the stream one line past the last.
func TestSyntaxErrorLines(t *testing.T) {
	cases := []struct {
		text string
		want string
	}{
		{"[", "p.yaml:1: YAML syntax: did not find expected node content"},
		{"[\n", "p.yaml:1: YAML syntax: did not find expected node content"},
		{"a: 1\n---\n[\n", "p.yaml:3: YAML syntax: did not find expected node content"},
		{"a: 1\n b: 2\n", "p.yaml:2: YAML syntax: mapping values are not allowed in this context"},
		{"a:\n  - 1\n  b: 2\n", "p.yaml:2: YAML syntax: did not find expected '-' indicator"},
		{"a:\n  b: 1\n c: 2\n", "p.yaml:3: YAML syntax: did not find expected key"},
		{"a: 1\nb: {c: 1\n", "p.yaml:2: YAML syntax: did not find expected ',' or '}'"},
		{"a: 1\nb: [1,\n\n", "p.yaml:3: YAML syntax: did not find expected node content"},
		{"%YAML 1.1\n%YAML 1.1\n---\na: 1\n", "p.yaml:2: YAML syntax: found duplicate %YAML directive"},
		{"a: 1\nb: !x!y 1\n", "p.yaml:2: YAML syntax: found undefined tag handle"},
		{"a: 1\r\nb: [\r\n", "p.yaml:2: YAML syntax: did not find expected node content"},
		{"a: *nowhere\n", "p.yaml: YAML syntax: unknown anchor 'nowhere' referenced"},
		{"a:\n\t- 1\n", "p.yaml:2: YAML syntax: found character that cannot start any token"},
	}
	for _, c := range cases {
		_, err := Parse("p.yaml", []byte(c.text))
		if err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q) = %v, want %s", c.text, err, c.want)
		}
		if p := (*Problem)(nil); !errors.As(err, &p) {
			t.Errorf("Parse(%q) returned %T, want a *Problem", c.text, err)
		}
	}
}

// A character YAML does not allow is reported at its line and column,
// counted in characters as an editor shows them.
func TestParseBadCharacters(t *testing.T) {
	for _, c := range []struct {
		name, text   string
		line, column int
		message      string
	}{
		{"NUL in a value", "a: 1\nb: {x: a\x00b}\n", 2, 9, "NUL byte: a file must be UTF-8 text (is it UTF-16 without a byte order mark, or binary?)"},
		{"invalid UTF-8", "a: \xff\n", 1, 4, "invalid UTF-8 (byte 0xFF): a file must be UTF-8 text"},
		{"invalid UTF-8 after multibyte characters", "a: \"héllo\xc3\"\n", 1, 10, "invalid UTF-8 (byte 0xC3)"},
		{"an encoded surrogate", "# \xed\xa0\x80\n", 1, 3, "invalid UTF-8 (byte 0xED)"},
		{"control character", "a: \"\x01\"\n", 1, 5, `control character U+0001 is not allowed (write it as "\u0001" in a double-quoted string)`},
		{"DEL", "\x7f\n", 1, 1, "control character U+007F"},
		{"C1 control", "a: \u0090\n", 1, 4, "control character U+0090"},
		{"after CRLF lines", "a: 1\r\nb: 2\r\n\x00", 3, 1, "NUL byte"},
		{"after CR lines", "a: 1\rb: 2\rx\x00", 3, 2, "NUL byte"},
		{"after a NEL", "# a\u0085b\x00\n", 2, 2, "NUL byte"},
		{"after a line separator", "# a\u2028b\x00\n", 2, 2, "NUL byte"},
		{"UTF-16 without a byte order mark", "v\x00e\x00r\x00", 1, 2, "UTF-16 without a byte order mark"},
	} {
		_, err := Parse("p.yaml", []byte(c.text))
		var p *Problem
		if !errors.As(err, &p) || p.File != "p.yaml" || p.Line != c.line || p.Column != c.column || !strings.Contains(p.Message, c.message) {
			t.Errorf("%s: got %#v, want line %d column %d %q", c.name, err, c.line, c.column, c.message)
		}
	}
	_, err := Parser{Noun: "pipeline file"}.Parse("p.yaml", []byte("a: \xe9\n"))
	if err == nil || err.Error() != "p.yaml:1:4: invalid UTF-8 (byte 0xE9): a pipeline file must be UTF-8 text" {
		t.Errorf("with a noun: %v", err)
	}
}

// What YAML allows passes: tabs, a byte order mark, any printable
// character, and UTF-16 with its byte order mark.
func TestParseGoodText(t *testing.T) {
	if _, err := Parse("p.yaml", []byte("\ufeffx: {a: \"tab\there\", y: 日本語 😀, z: \"\\0 escaped\"}\n")); err != nil {
		t.Error(err)
	}
	utf16 := []byte{0xff, 0xfe}
	for _, r := range "a: 1\nb: 2\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	doc, err := Parse("p.yaml", utf16)
	if err != nil || len(doc.Content[0].Content) != 4 {
		t.Errorf("UTF-16: %v, %v", doc, err)
	}
}

// Text over MaxSize is refused before it is parsed, at the line the limit
// falls on.
func TestParseMaxSize(t *testing.T) {
	text := []byte("a: 1\nb: " + strings.Repeat("x", 3000) + "\nc: 3\n")
	for _, c := range []struct {
		parser Parser
		want   string
	}{
		{Parser{MaxSize: 2 << 10}, "p.yaml:2: the file is larger than 2 KiB (the limit falls on this line)"},
		{Parser{MaxSize: 2, Noun: "pipeline file"}, "p.yaml:1: the pipeline file is larger than 2 bytes (the limit falls on this line)"},
	} {
		if _, err := c.parser.Parse("p.yaml", text); err == nil || err.Error() != c.want {
			t.Errorf("Parse = %v, want %s", err, c.want)
		}
	}
	if _, err := (Parser{MaxSize: len(text)}).Parse("p.yaml", text); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if got := bytesSize(1 << 20); got != "1 MiB" {
		t.Errorf("bytesSize = %q", got)
	}
}

func TestLastLine(t *testing.T) {
	cases := map[string]int{
		"":           0,
		"a":          1,
		"a\n":        1,
		"a\nb":       2,
		"a\r\nb\r\n": 2,
		"a\rb":       2,
		"\n\n":       2,
		"a\u2028b":   2,
		"a\u0085":    1,
	}
	for in, want := range cases {
		if got := lastLine([]byte(in)); got != want {
			t.Errorf("lastLine(%q) = %d, want %d", in, got, want)
		}
	}
}
