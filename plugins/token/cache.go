package token

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
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

// Key identifies a token as ZTS issues it, as the reference's cache keys
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
	var b strings.Builder
	b.WriteString(k.Kind.String())
	b.WriteByte('/')
	b.WriteString(k.Domain)
	if k.Roles != "" {
		b.WriteByte(':')
		b.WriteString(k.Roles)
	}
	if k.ProxyForPrincipal != "" {
		b.WriteString(";proxy=")
		b.WriteString(k.ProxyForPrincipal)
	}
	if k.MinExpiry != 0 {
		b.WriteString(";min_expiry=")
		b.WriteString(strconv.Itoa(int(k.MinExpiry)))
	}
	if k.MaxExpiry != 0 {
		b.WriteString(";max_expiry=")
		b.WriteString(strconv.Itoa(int(k.MaxExpiry)))
	}
	return b.String()
}

// Token is one token from ZTS with the bytes of every answer that carries
// it computed once, so that serving it costs no encoding.
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
	// The REST bodies are those encoding/json produced for the reference's
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

// size is the number of bytes t holds: its struct and everything it points
// to that it owns.
func (t *Token) size() int {
	if t == nil {
		return 0
	}
	n := int(unsafe.Sizeof(*t)) + len(t.Raw) + len(t.Scope) + cap(t.quoted) + cap(t.body) + cap(t.tail)
	for _, h := range t.header {
		n += int(unsafe.Sizeof(h)) + len(h)
	}
	return n
}

// entry is a cached token and its refresh state.
type entry struct {
	key    Key
	target bool // configured: never evicted, written to files

	tok      atomic.Pointer[Token]
	lastUsed atomic.Int64 // Unix nanoseconds of the last request for it

	mu         sync.Mutex // guards what follows
	refreshAt  time.Time  // when the refresh loop fetches it next
	lastUpdate time.Time  // last successful fetch
	failures   int        // fetches failed in a row
	// The refresh loop's state of this token (refresh.go): an attempt is
	// under way, or the number of attempts of this refresh that failed,
	// since when, and the last error.
	attempting bool
	retries    int
	retrySince time.Time
	lastErr    error
}

// touch notes a use of e at now (Unix nanoseconds). It writes at most
// once per every: requests on many cores for one token would otherwise
// contend for its cache line.
func (e *entry) touch(now, every int64) {
	if now-e.lastUsed.Load() >= every {
		e.lastUsed.Store(now)
	}
}

// size is the bytes the cache holds for e: its map slot (key and
// pointer), the entry, the key's strings and the token.
func (e *entry) size() int {
	k := e.key
	return int(unsafe.Sizeof(k)+unsafe.Sizeof(e)+unsafe.Sizeof(*e)) +
		len(k.Domain) + len(k.Roles) + len(k.ProxyForPrincipal) + e.tok.Load().size()
}

// cache holds the tokens by key. Lookups take a read lock; tokens are
// swapped atomically in their entries, so a refresh never blocks readers.
type cache struct {
	maxEntries int
	touchEvery int64 // nanoseconds; see entry.touch

	mu sync.RWMutex
	m  map[Key]*entry

	// changed is signalled (without blocking) when an entry is added, so
	// that the refresh loop reschedules.
	changed chan struct{}
}

// newCache returns a cache of at most maxEntries tokens whose last uses are
// known to within a tenth of idleTimeout (and a second).
func newCache(maxEntries int, idleTimeout time.Duration) *cache {
	return &cache{
		maxEntries: maxEntries,
		touchEvery: int64(min(time.Second, idleTimeout/10)),
		m:          make(map[Key]*entry),
		changed:    make(chan struct{}, 1),
	}
}

// lookup returns the entry of k, or nil.
func (c *cache) lookup(k Key) *entry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	return e
}

// get returns k's token if it may be served at now, and notes the use.
func (c *cache) get(k Key, now time.Time, margin time.Duration) *Token {
	e := c.lookup(k)
	if e == nil {
		return nil
	}
	e.touch(now.UnixNano(), c.touchEvery)
	if t := e.tok.Load(); t.usable(now, margin) {
		return t
	}
	return nil
}

// add returns k's entry, creating it if needed (marked as a target if
// target is set, and filled by init, if not nil, before anyone can see
// it). When the cache is full, the least recently used entry that is not a
// target makes room; it is returned as evicted.
func (c *cache) add(k Key, target bool, now time.Time, init func(*entry)) (e *entry, evicted *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.m[k]; e != nil {
		if target && !e.target { // only at Init, before anything reads it concurrently
			e.target = true
		}
		return e, nil
	}
	if len(c.m) >= c.maxEntries {
		for _, o := range c.m {
			if !o.target && (evicted == nil || o.lastUsed.Load() < evicted.lastUsed.Load()) {
				evicted = o
			}
		}
		if evicted != nil {
			delete(c.m, evicted.key)
		}
	}
	e = &entry{key: k, target: target}
	e.lastUsed.Store(now.UnixNano())
	if init != nil {
		init(e)
	}
	c.m[k] = e
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return e, evicted
}

// remove deletes e if it is still the entry of its key.
func (c *cache) remove(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[e.key] == e {
		delete(c.m, e.key)
	}
}

// entries returns every entry.
func (c *cache) entries() []*entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*entry, 0, len(c.m))
	for _, e := range c.m {
		out = append(out, e)
	}
	return out
}

// cacheStats is the cache's size per token kind.
type cacheStats struct {
	Entries map[kind]int
	Bytes   map[kind]int
}

func (c *cache) stats() cacheStats {
	s := cacheStats{Entries: map[kind]int{accessToken: 0, roleToken: 0}, Bytes: map[kind]int{accessToken: 0, roleToken: 0}}
	for _, e := range c.entries() {
		s.Entries[e.key.Kind]++
		s.Bytes[e.key.Kind] += e.size()
	}
	return s
}
