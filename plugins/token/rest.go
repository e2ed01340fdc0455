package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// accessTokenRequest is the body of POST /accesstoken (k8s-athenz-sia's
// AccessTokenRequestBody).
type accessTokenRequest struct {
	Domain            string  `json:"domain"`
	Role              *string `json:"role,omitempty"`
	ProxyForPrincipal *string `json:"proxy_for_principal,omitempty"`
	Expiry            *int64  `json:"expiry,omitempty"`
}

// roleTokenRequest is the body of POST /roletoken (k8s-athenz-sia's
// RoleTokenRequestBody).
type roleTokenRequest struct {
	Domain            string  `json:"domain"`
	Role              *string `json:"role,omitempty"`
	ProxyForPrincipal *string `json:"proxy_for_principal,omitempty"`
	MinExpiry         *int64  `json:"min_expiry,omitempty"`
	MaxExpiry         *int64  `json:"max_expiry,omitempty"`
}

// decodeStrict decodes exactly one JSON object into v: unknown fields, as
// in k8s-athenz-sia, and trailing data are errors.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty request body: want a JSON object")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// expiryRule is what a request's lifetime may be: def (token_expiry, in
// seconds) when it names none, else at least min (cache.min_token_lifetime):
// a shorter token would be stale about as soon as it is cached, and
// refreshing it would keep ZTS busy for nothing.
type expiryRule struct {
	def, min int32
}

// seconds validates an optional lifetime in seconds; ZTS takes int32.
func (r expiryRule) seconds(name string, v *int64) (int32, error) {
	switch {
	case v == nil || *v == 0:
		return r.def, nil
	case *v < 0 || *v > math.MaxInt32:
		return 0, fmt.Errorf("%s must be between 0 and %d seconds", name, math.MaxInt32)
	case *v < int64(r.min):
		return 0, fmt.Errorf("%s must be at least %d seconds (cache.min_token_lifetime), or 0 for the default", name, r.min)
	}
	return int32(*v), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// requestKey checks the domain, roles and proxy principal that both REST
// requests carry, and returns the key they name, expiry bounds aside.
func requestKey(k kind, domain string, role, proxy *string) (Key, error) {
	domain, roles, err := canonical(domain, deref(role))
	if err != nil {
		return Key{}, err
	}
	principal := deref(proxy)
	if err := checkPrincipal(principal); err != nil {
		return Key{}, err
	}
	return Key{Kind: k, Domain: domain, Roles: roles, ProxyForPrincipal: principal}, nil
}

// parseAccessTokenRequest turns a POST /accesstoken body into a cache key;
// rule says what its expiry may be.
func parseAccessTokenRequest(body []byte, rule expiryRule) (Key, error) {
	var q accessTokenRequest
	if err := decodeStrict(body, &q); err != nil {
		return Key{}, err
	}
	k, err := requestKey(accessToken, q.Domain, q.Role, q.ProxyForPrincipal)
	if err != nil {
		return Key{}, err
	}
	if k.MaxExpiry, err = rule.seconds("expiry", q.Expiry); err != nil {
		return Key{}, err
	}
	return k, nil
}

// parseRoleTokenRequest turns a POST /roletoken body into a cache key.
// max_expiry is validated but not sent to ZTS, as in k8s-athenz-sia (#97):
// it would only shorten the tokens the agent shares between clients.
func parseRoleTokenRequest(body []byte, rule expiryRule) (Key, error) {
	var q roleTokenRequest
	if err := decodeStrict(body, &q); err != nil {
		return Key{}, err
	}
	k, err := requestKey(roleToken, q.Domain, q.Role, q.ProxyForPrincipal)
	if err != nil {
		return Key{}, err
	}
	if k.MinExpiry, err = rule.seconds("min_expiry", q.MinExpiry); err != nil {
		return Key{}, err
	}
	if _, err := (expiryRule{}).seconds("max_expiry", q.MaxExpiry); err != nil {
		return Key{}, err
	}
	return k, nil
}

// readBody reads a request body of at most maxBodyBytes. (A reader into
// pooled buffers saved 0.3-0.6 µs a request in BenchmarkServeHit, under 3%
// of a request: not worth its code.)
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string) {
	if r.ContentLength > s.maxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, s.tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge, s.tooLarge()
	case err != nil:
		return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
	}
	return body, 0, ""
}

func (s *server) tooLarge() string {
	return "request body larger than " + strconv.FormatInt(s.maxBodyBytes, 10) + " bytes"
}

// bodyMemo remembers the keys of the REST bodies parsed lately. Clients
// send the same few bodies over and over, and a map lookup costs a small
// fraction of decoding JSON: encoding/json's decoder costs about 2.2 µs
// and 11 allocations a request (BenchmarkServeHit), 5-10% of a request,
// which would take the REST API out of its budget (BenchmarkTokenServer:
// throughput at least 0.90 of the bare handler's). Only bodies that
// parsed are remembered, and the key is a function of the body alone (the
// expiry rule does not change), so the memo answers exactly as the parser
// would.
type bodyMemo struct {
	parse func([]byte, expiryRule) (Key, error)
	rule  expiryRule

	mu   sync.RWMutex
	keys map[string]Key
}

// Bounds of a memo: its bodies hold at most memoEntries × memoBodyBytes.
const (
	memoEntries   = 1024
	memoBodyBytes = 512
)

func newBodyMemo(parse func([]byte, expiryRule) (Key, error), rule expiryRule) *bodyMemo {
	return &bodyMemo{parse: parse, rule: rule, keys: make(map[string]Key)}
}

func (m *bodyMemo) key(body []byte) (Key, error) {
	m.mu.RLock()
	k, ok := m.keys[string(body)]
	m.mu.RUnlock()
	if ok {
		return k, nil
	}
	k, err := m.parse(body, m.rule)
	if err != nil || len(body) > memoBodyBytes {
		return k, err
	}
	m.mu.Lock()
	if len(m.keys) >= memoEntries {
		clear(m.keys) // cheaper than LRU bookkeeping; the hot bodies come back at once
	}
	m.keys[string(body)] = k
	m.mu.Unlock()
	return k, nil
}

// postAccessToken answers POST /accesstoken with
// {"access_token":…,"expires_in":…,"scope":…,"token_type":"Bearer"}.
func (s *server) postAccessToken(w http.ResponseWriter, r *http.Request) int {
	k, code := s.restKey(w, r, s.atBodies)
	if code != 0 {
		return code
	}
	t, code := s.restToken(w, r, k)
	if t == nil {
		return code
	}
	bp := s.bufs.Get().(*[]byte)
	b := append((*bp)[:0], t.body...)
	// expires_in counts from now, as k8s-athenz-sia computes it per request.
	b = strconv.AppendInt(b, int64(time.Until(t.Expiry)/time.Second), 10)
	b = append(b, t.tail...)
	code = writeOK(w, b)
	*bp = b
	s.bufs.Put(bp)
	return code
}

// postRoleToken answers POST /roletoken with {"expiryTime":…,"token":…}.
func (s *server) postRoleToken(w http.ResponseWriter, r *http.Request) int {
	k, code := s.restKey(w, r, s.rtBodies)
	if code != 0 {
		return code
	}
	t, code := s.restToken(w, r, k)
	if t == nil {
		return code
	}
	return writeOK(w, t.body)
}

// restKey reads and parses a REST body, answering 400 or 413 if it is no
// good.
func (s *server) restKey(w http.ResponseWriter, r *http.Request, bodies *bodyMemo) (Key, int) {
	body, code, msg := s.readBody(w, r)
	if code != 0 {
		return Key{}, writeError(w, code, msg)
	}
	k, err := bodies.key(body)
	if err != nil {
		return Key{}, writeError(w, http.StatusBadRequest, "invalid request body: "+err.Error())
	}
	return k, 0
}

// restToken returns k's token from the cache or ZTS, or answers the
// failure and returns nil. The token has at least the expiry margin left
// now, when the answer is written: the body may have taken a while to
// arrive, and the fetch to complete.
func (s *server) restToken(w http.ResponseWriter, r *http.Request, k Key) (*Token, int) {
	t, err := s.cache.token(r.Context(), k)
	if err != nil {
		return nil, s.fetchFailed(w, r, k, err)
	}
	return t, 0
}
