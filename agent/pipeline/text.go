package pipeline

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/sia-agent/sia-agent/internal/strictyaml"
)

// checkText finds the first character that YAML does not allow in a file:
// invalid UTF-8, a NUL byte or another control character. yaml.v3 refuses
// them too, but without saying where. A file with a UTF-16 byte order mark
// is left to yaml.v3, which reads UTF-16.
func checkText(file string, data []byte) error {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if msg := badCharacter(r, size, data[i]); msg != "" {
			return &strictyaml.Problem{File: file, Line: line, Column: col, Message: msg}
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
	return nil
}

// badCharacter says what is wrong with the character r (size bytes long,
// starting with b), or "" if YAML allows it.
func badCharacter(r rune, size int, b byte) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("invalid UTF-8 (byte 0x%02X): a pipeline file must be UTF-8 text", b)
	case r == 0:
		return "NUL byte: a pipeline file must be UTF-8 text (is it UTF-16 without a byte order mark, or binary?)"
	case r == '\t' || r == '\n' || r == '\r' || r == '\u0085',
		r >= 0x20 && r <= 0x7e,
		r >= 0xa0 && r <= 0xd7ff,
		r >= 0xe000 && r <= 0xfffd,
		r >= 0x10000 && r <= 0x10ffff:
		return ""
	}
	return fmt.Sprintf("control character U+%04X is not allowed (write it as \"\\u%04X\" in a double-quoted string)", r, r)
}
