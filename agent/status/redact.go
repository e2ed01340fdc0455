package status

import (
	"regexp"
	"sync"

	"github.com/sia-agent/sia-agent/internal/truncate"
)

// maxText bounds a provider's error and a credential's failure as the
// report keeps them; the agent's log relay already bounds log lines.
const maxText = 4 << 10

// secrets match what must never reach the status file, whatever a plugin
// logs: private keys, JWTs (access tokens), Athenz role tokens and bearer
// credentials. Compiled at first use: every plugin process runs the
// agent's package inits, and never redacts.
var secrets = sync.OnceValue(func() []secret {
	return []secret{
		{regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`), "[redacted private key]"},
		{regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), "[redacted JWT]"},
		{regexp.MustCompile(`v=Z1;[^\s"']*`), "[redacted role token]"},
		{regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+`), "$1 [redacted]"},
	}
})

// secret is a pattern of what to redact, and what to put in its place.
type secret struct {
	re   *regexp.Regexp
	with string
}

// redact replaces anything in s that looks like a key or a token.
func redact(s string) string {
	for _, sec := range secrets() {
		s = sec.re.ReplaceAllString(s, sec.with)
	}
	return s
}

// bounded cuts s to maxText bytes, saying how much was cut.
func bounded(s string) string { return truncate.String(s, maxText) }
