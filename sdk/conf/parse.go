package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// A Parser parses configuration text into a YAML document, with a
// position for anything wrong with it.
type Parser struct {
	// Noun names the text in messages, e.g. "pipeline file"; "" means
	// "file".
	Noun string
	// MaxSize bounds the text in bytes; 0 means no bound.
	MaxSize int
}

// Parse parses data with the zero Parser: no bound on its size.
func Parse(file string, data []byte) (*yaml.Node, error) {
	return Parser{}.Parse(file, data)
}

// Parse parses data, the text of file, as one YAML document and returns
// its document node; nil and no error when it holds no value (it is
// empty, all comments, a lone "---" or null).
//
// The error, if any, is a *Problem naming file and, where it can, the
// line (and for a character YAML does not allow, the column): text over
// MaxSize; invalid UTF-8, a NUL byte or a control character; a syntax
// error; a second document.
func (p Parser) Parse(file string, data []byte) (*yaml.Node, error) {
	noun := p.Noun
	if noun == "" {
		noun = "file"
	}
	if p.MaxSize > 0 && len(data) > p.MaxSize {
		return nil, &Problem{File: file, Line: max(lastLine(data[:p.MaxSize]), 1),
			Message: fmt.Sprintf("the %s is larger than %s (the limit falls on this line)", noun, bytesSize(p.MaxSize))}
	}
	if line, col, msg := checkText(data, noun); msg != "" {
		return nil, &Problem{File: file, Line: line, Column: col, Message: msg}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxProblem(file, data, err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		// "---" alone, or "~": as good as empty.
		return nil, nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &Problem{File: file, Line: extra.Line, Message: fmt.Sprintf("the %s holds more than one YAML document", noun)}
	case !errors.Is(err, io.EOF):
		// A broken document after the first is still a broken file.
		return nil, syntaxProblem(file, data, err)
	}
	return &doc, nil
}

// isNull reports a node that holds nothing: none, or null.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// bytesSize writes n bytes in the largest unit that divides it.
func bytesSize(n int) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// syntaxLineRE reads yaml.v3's syntax errors; compiled when one comes.
var syntaxLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// parserErrors are the messages of yaml.v3's parser (as opposed to its
// scanner). For these yaml.v3 v3.0.1 reports the 0-based line of the error's
// context (decode.go, parser.fail): one less than the line it means, and no
// line at all for line 1.
var parserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxProblem locates one of yaml.v3's syntax errors in data.
func syntaxProblem(file string, data []byte, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := syntaxLineRE().FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if parserErrors[msg] {
		line++
	}
	// An error at the end of the stream is on the line after the last
	// line break: call it the last line.
	line = min(line, lastLine(data))
	return &Problem{File: file, Line: line, Message: "YAML syntax: " + msg}
}

// lastLine is the number of the last line of data, counting line breaks as
// YAML does (LF, CRLF, CR, NEL, LS, PS).
func lastLine(data []byte) int {
	s := string(data)
	breaks := strings.Count(s, "\n") + strings.Count(s, "\r") - strings.Count(s, "\r\n") +
		strings.Count(s, "\u0085") + strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		if strings.HasSuffix(s, br) {
			return breaks
		}
	}
	if s == "" {
		return 0
	}
	return breaks + 1
}

// checkText finds the first character that YAML does not allow in a file:
// invalid UTF-8, a NUL byte or another control character, and says what
// it is and where. yaml.v3 refuses them too, but without saying where. A
// file with a UTF-16 byte order mark is left to yaml.v3, which reads
// UTF-16.
func checkText(data []byte, noun string) (line, col int, msg string) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return 0, 0, ""
	}
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if msg := badCharacter(r, size, data[i], noun); msg != "" {
			return line, col, msg
		}
		switch {
		case r == '\r' && i+1 < len(data) && data[i+1] == '\n':
			size++
			fallthrough
		case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			// The line breaks of yaml.v3 (YAML 1.1).
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return 0, 0, ""
}

// badCharacter says what is wrong with the character r (size bytes long,
// starting with b), or "" if YAML allows it.
func badCharacter(r rune, size int, b byte, noun string) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("invalid UTF-8 (byte 0x%02X): a %s must be UTF-8 text", b, noun)
	case r == 0:
		return fmt.Sprintf("NUL byte: a %s must be UTF-8 text (is it UTF-16 without a byte order mark, or binary?)", noun)
	case r == '\t' || r == '\n' || r == '\r' || r == '\u0085',
		r >= 0x20 && r <= 0x7e,
		r >= 0xa0 && r <= 0xd7ff,
		r >= 0xe000 && r <= 0xfffd,
		r >= 0x10000 && r <= 0x10ffff:
		return ""
	}
	return fmt.Sprintf("control character U+%04X is not allowed (write it as \"\\u%04X\" in a double-quoted string)", r, r)
}
