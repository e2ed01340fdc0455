package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The shape checks below refuse, before anything is cached or served, a
// ZTS answer of 200 that does not hold a token of the kind asked for. They
// verify no signature: the agent is not the tokens' audience, and has no
// business holding ZTS's keys; it only must not hand clients garbage.

// jwtExpiry checks that s is a JWT (three base64url parts, a JSON object
// header and payload) and returns its exp claim.
func jwtExpiry(s string) (time.Time, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("%d dot-separated parts, want 3", len(parts))
	}
	var decoded [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil || len(b) == 0 {
			return time.Time{}, fmt.Errorf("part %d is not base64url", i+1)
		}
		decoded[i] = b
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(decoded[0], &header); err != nil || header == nil {
		return time.Time{}, errors.New("the header is not a JSON object")
	}
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	if err := json.Unmarshal(decoded[1], &claims); err != nil || !bytes.HasPrefix(bytes.TrimSpace(decoded[1]), []byte("{")) {
		return time.Time{}, errors.New("the payload is not a JSON object")
	}
	exp, err := strconv.ParseFloat(string(claims.Exp), 64)
	if err != nil || exp <= 0 {
		return time.Time{}, errors.New("no numeric exp claim")
	}
	return time.Unix(int64(exp), 0), nil
}

// roleTokenFields are the fields every Athenz role token has:
// v=Z1;d=<domain>;r=<roles>;...;e=<expiry>;k=<key id>;...;s=<signature>.
var roleTokenFields = []string{"v", "d", "r", "e", "k", "s"}

// checkRoleToken checks that s is an Athenz role token for domain (its
// fields as above, the signature last) and returns its e= expiry.
func checkRoleToken(s, domain string) (time.Time, error) {
	fields := make(map[string]string, 12)
	items := strings.Split(s, ";")
	for _, item := range items {
		name, value, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return time.Time{}, fmt.Errorf("a role token field %q is not name=value", truncate(item, 40))
		}
		fields[name] = value
	}
	for _, name := range roleTokenFields {
		if fields[name] == "" {
			return time.Time{}, fmt.Errorf("a role token without its %s= field", name)
		}
	}
	if !strings.HasPrefix(items[len(items)-1], "s=") {
		return time.Time{}, errors.New("a role token whose signature is not its last field")
	}
	if !strings.EqualFold(fields["d"], domain) {
		return time.Time{}, fmt.Errorf("a role token for domain %q, not %q", truncate(fields["d"], 256), domain)
	}
	e, err := strconv.ParseInt(fields["e"], 10, 64)
	if err != nil || e <= 0 {
		return time.Time{}, errors.New("a role token whose e= is not a time")
	}
	return time.Unix(e, 0), nil
}

// truncate cuts s to at most n bytes, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
