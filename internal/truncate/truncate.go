// Package truncate bounds text that the agent keeps or passes on (a
// plugin's error, a status line), saying how much it cut.
package truncate

import (
	"fmt"
	"unicode/utf8"
)

// String returns s if it has at most n bytes; otherwise its first n bytes
// or fewer, cut on a rune boundary, followed by " ... [<k> bytes cut]".
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return fmt.Sprintf("%s ... [%d bytes cut]", s[:end], len(s)-end)
}
