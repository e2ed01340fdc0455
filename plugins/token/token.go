package token

import (
	"encoding/json"
	"strconv"
	"time"
)

// kind is a token type.
type kind uint8

const (
	accessToken kind = iota + 1
	roleToken
)

func (k kind) String() string {
	if k == accessToken {
		return typeAccessToken
	}
	return typeRoleToken
}

// Key identifies a token as ZTS issues it, as k8s-athenz-sia's cache keys
// do (minus their file flag, which is the entry's business here).
type Key struct {
	Kind   kind
	Domain string
	// Roles is the canonical role list (see canonical); empty means every
	// role of the identity in the domain.
	Roles             string
	ProxyForPrincipal string
	// MinExpiry is a role token's minExpiryTime, MaxExpiry an access
	// token's expires_in, both in seconds; 0 leaves the lifetime to ZTS.
	MinExpiry int32
	MaxExpiry int32
}

// credential names the token in status records, logs and coalescing:
// "roletoken/sports:readers,writers", with the proxy principal and expiry
// bounds appended when they are set.
func (k Key) credential() string {
	c := k.Kind.String() + "/" + k.Domain
	if k.Roles != "" {
		c += ":" + k.Roles
	}
	if k.ProxyForPrincipal != "" {
		c += ";proxy=" + k.ProxyForPrincipal
	}
	if k.MinExpiry != 0 {
		c += ";min_expiry=" + strconv.Itoa(int(k.MinExpiry))
	}
	if k.MaxExpiry != 0 {
		c += ";max_expiry=" + strconv.Itoa(int(k.MaxExpiry))
	}
	return c
}

// Token is one token from ZTS with the bytes of every answer that carries
// it computed once, so that serving it costs no encoding: encoding the
// answers per request with encoding/json cost 1.5-5 µs a request in
// BenchmarkServeHit (header mode's map most), 10-15% of a request; with
// that and the pooled buffers gone, BenchmarkTokenServer put header mode
// and the access token API at 0.89 and 0.75 of the bare handler's
// throughput, below the budget of 0.90.
type Token struct {
	Raw     string
	Scope   string // access tokens: the scope ZTS returned, if any
	Expiry  time.Time
	Fetched time.Time

	quoted []byte   // Raw as a JSON string
	header []string // the header value: "bearer <AT>" or "<RT>"
	// REST body: a role token's whole body; an access token's body up to
	// its expires_in value (computed per request), and the rest in tail.
	body []byte
	tail []byte
}

func newToken(k kind, raw, scope string, expiry, fetched time.Time) *Token {
	t := &Token{Raw: raw, Scope: scope, Expiry: expiry, Fetched: fetched, quoted: jsonString(raw)}
	// The REST bodies are those encoding/json produced for k8s-athenz-sia's
	// response structs, field order and trailing newline included.
	switch k {
	case accessToken:
		t.header = []string{"bearer " + raw}
		t.body = append(append([]byte(`{"access_token":`), t.quoted...), `,"expires_in":`...)
		if scope != "" {
			t.tail = append(append([]byte(`,"scope":`), jsonString(scope)...), `,"token_type":"Bearer"}`+"\n"...)
		} else {
			t.tail = []byte(`,"token_type":"Bearer"}` + "\n")
		}
	case roleToken:
		t.header = []string{raw}
		t.body = strconv.AppendInt([]byte(`{"expiryTime":`), expiry.Unix(), 10)
		t.body = append(append(append(t.body, `,"token":`...), t.quoted...), "}\n"...)
	}
	return t
}

// jsonString encodes s as encoding/json does, HTML escaping included.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// usable reports whether t may be served at now: it is not empty and does
// not expire within margin.
func (t *Token) usable(now time.Time, margin time.Duration) bool {
	return t != nil && t.Raw != "" && now.Add(margin).Before(t.Expiry)
}

// size is the number of bytes t holds: its strings and answers.
func (t *Token) size() int {
	if t == nil {
		return 0
	}
	n := len(t.Raw) + len(t.Scope) + cap(t.quoted) + cap(t.body) + cap(t.tail)
	for _, h := range t.header {
		n += len(h)
	}
	return n
}
