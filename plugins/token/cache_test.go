package token

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTokenUsable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := Key{Kind: roleToken, Domain: "d"}
	cases := []struct {
		name string
		tok  *Token
		want bool
	}{
		{"nil", nil, false},
		{"empty", newToken(roleToken, "", "", now.Add(time.Hour), now), false},
		{"expired", newToken(roleToken, "t", "", now.Add(-time.Second), now.Add(-time.Hour)), false},
		{"expires within the margin", newToken(roleToken, "t", "", now.Add(4*time.Second), now), false},
		{"valid", fakeToken(k, 1, time.Hour), true},
	}
	for _, c := range cases {
		if got := c.tok.usable(now, 5*time.Second); got != c.want {
			t.Errorf("%s: usable = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCacheNeverServesExpiredOrEmpty(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), func(c *Config) { c.Cache.ExpiryMargin = 0 })
	now := time.Now()
	k := Key{Kind: accessToken, Domain: "d", Roles: "r"}
	st.addTarget(k)
	if got := st.hit(k, now); got != nil {
		t.Fatalf("a target not yet fetched served %q", got.Raw)
	}
	st.entries.peek(k).tok.Store(newToken(accessToken, "t", "", now.Add(time.Second), now.Add(-time.Hour)))
	if got := st.hit(k, now); got == nil {
		t.Fatal("a valid token was not served")
	}
	if got := st.hit(k, now.Add(2*time.Second)); got != nil {
		t.Fatal("an expired token was served")
	}
}

func TestCacheEvictsLeastRecentlyUsedWhenFull(t *testing.T) {
	t.Parallel()
	c := newEntries(3)
	now := time.Now()
	key := func(r string) Key { return Key{Kind: roleToken, Domain: "d", Roles: r} }
	c.addTarget(key("target")) // never used, but a target
	c.add(key("old"), now.Add(-time.Minute), nil)
	c.add(key("new"), now, nil)
	_, _, evicted := c.add(key("newest"), now, nil)
	if evicted == nil || evicted.key != key("old") {
		t.Fatalf("evicted %+v, want the least recently used on-demand entry", evicted)
	}
	for _, r := range []string{"target", "new", "newest"} {
		if c.peek(key(r)) == nil {
			t.Errorf("%s was evicted", r)
		}
	}
	// A use makes an entry the most recently used.
	c.use(key("new"), now)
	if _, _, evicted := c.add(key("next"), now, nil); evicted == nil || evicted.key != key("newest") {
		t.Errorf("evicted %+v after a use of new, want newest", evicted)
	}
}

func TestIdleEntriesAreFoundLeastRecentlyUsedFirst(t *testing.T) {
	t.Parallel()
	c := newEntries(10)
	now := time.Now()
	key := func(r string) Key { return Key{Kind: roleToken, Domain: "d", Roles: r} }
	c.addTarget(key("target"))
	for i, r := range []string{"a", "b", "c"} {
		c.add(key(r), now.Add(time.Duration(i)*time.Minute), nil)
	}
	c.use(key("a"), now.Add(3*time.Minute))
	if at, ok := c.nextIdle(time.Hour); !ok || !at.Equal(now.Add(time.Hour+time.Minute)) {
		t.Errorf("next idle at %v (%v), want b's last use and an hour", at, ok)
	}
	gone := c.evictIdle(now.Add(time.Hour+2*time.Minute), time.Hour)
	if len(gone) != 2 || gone[0].key != key("b") || gone[1].key != key("c") || c.len() != 2 {
		t.Errorf("evicted %d entries, %d left; want b and c, then the target and a", len(gone), c.len())
	}
}

func TestCacheBytesCountWhatIsStored(t *testing.T) {
	t.Parallel()
	st, _ := testCache(t, upstream(nil), nil)
	if s := st.stats(); s.Entries[roleToken] != 0 || s.Bytes[roleToken] != 0 {
		t.Fatalf("empty cache: %+v", s)
	}
	k := Key{Kind: roleToken, Domain: "sports", Roles: "readers"}
	st.addTarget(k)
	empty := st.stats().Bytes[roleToken]
	if want := len("sports") + len("readers"); empty != want {
		t.Errorf("entry without a token: %d bytes, want %d (its key's strings)", empty, want)
	}
	raw := strings.Repeat("x", 10000)
	now := time.Now()
	st.entries.peek(k).tok.Store(newToken(roleToken, raw, "", now.Add(time.Hour), now))
	s := st.stats()
	// The raw token, its JSON form and the REST body each hold it once;
	// the header value holds it once more.
	if got := s.Bytes[roleToken] - empty; got < 4*len(raw) || got > 4*len(raw)+1024 {
		t.Errorf("a %d-byte token accounts for %d bytes, want about %d", len(raw), got, 4*len(raw))
	}
	if s.Entries[roleToken] != 1 || s.Entries[accessToken] != 0 || s.Bytes[accessToken] != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestKeyCredential(t *testing.T) {
	t.Parallel()
	cases := map[string]Key{
		"roletoken/sports":                        {Kind: roleToken, Domain: "sports"},
		"accesstoken/sports:readers,writers":      {Kind: accessToken, Domain: "sports", Roles: "readers,writers"},
		"roletoken/d:r;proxy=p.s;min_expiry=60":   {Kind: roleToken, Domain: "d", Roles: "r", ProxyForPrincipal: "p.s", MinExpiry: 60},
		"accesstoken/d:r;max_expiry=3600":         {Kind: accessToken, Domain: "d", Roles: "r", MaxExpiry: 3600},
		"roletoken/d;min_expiry=1;max_expiry=100": {Kind: roleToken, Domain: "d", MinExpiry: 1, MaxExpiry: 100},
	}
	for want, k := range cases {
		if got := k.credential(); got != want {
			t.Errorf("%+v: %q, want %q", k, got, want)
		}
	}
}

// The REST and header-mode bodies must be byte for byte what the
// k8s-athenz-sia's json.Encoder produced for its response structs, and its
// json.Marshal for header mode's map.
func TestRESTBodiesMatchTheReferenceEncoding(t *testing.T) {
	t.Parallel()
	type accessTokenResponse struct { // k8s-athenz-sia pkg/token/sidecar.gen.go
		AccessToken string  `json:"access_token"`
		ExpiresIn   int     `json:"expires_in"`
		Scope       *string `json:"scope,omitempty"`
		TokenType   string  `json:"token_type"`
	}
	type roleTokenResponse struct {
		ExpiryTime int64  `json:"expiryTime"`
		Token      string `json:"token"`
	}
	encode := func(v any) string {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	raw := `a.b<c>&"d\` // characters encoding/json escapes
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, scope := range []string{"", "d:role.r1 d:role.r2"} {
		f := newFakeZTS(func(ctx context.Context, k Key, n int) (*Token, error) {
			return newToken(k.Kind, raw, scope, expiry, time.Now()), nil
		})
		st, _ := testCache(t, f, nil)
		s := testServer(t, st)
		w := serve(s, "POST", "/accesstoken", nil, `{"domain":"d","role":"r"}`)
		var got accessTokenResponse
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		want := accessTokenResponse{AccessToken: raw, ExpiresIn: got.ExpiresIn, TokenType: "Bearer"}
		if scope != "" {
			want.Scope = &scope
		}
		if got.ExpiresIn < 3590 || got.ExpiresIn > 3600 {
			t.Errorf("expires_in %d, want the seconds left of an hour", got.ExpiresIn)
		}
		if body := w.Body.String(); body != encode(want) {
			t.Errorf("access token body\n got %s\nwant %s", body, encode(want))
		}
		w = serve(s, "POST", "/roletoken", nil, `{"domain":"d","role":"r"}`)
		if got, want := w.Body.String(), encode(roleTokenResponse{ExpiryTime: expiry.Unix(), Token: raw}); got != want {
			t.Errorf("role token body\n got %s\nwant %s", got, want)
		}
		w = serve(s, "GET", "/", headers("d", "r"), "")
		hm, _ := json.Marshal(map[string]string{"accesstoken": raw, "roletoken": raw})
		if got := w.Body.String(); got != string(hm) || w.Header().Get("Authorization") != "bearer "+raw || w.Header().Get("Athenz-Role-Auth") != raw {
			t.Errorf("header mode: %v %s, want %s", w.Header(), got, hm)
		}
	}
}

func TestScheduleRefreshAheadOfExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tok := func(life time.Duration) *Token { return newToken(roleToken, "t", "", now.Add(life), now) }
	cases := []struct {
		name         string
		life, minRem time.Duration
		rnd          float64
		want         time.Duration // after fetch
	}{
		{"two fifths of a long lifetime at the soonest", 2 * time.Hour, 5 * time.Minute, 0, 48 * time.Minute},
		{"four fifths at most", 2 * time.Hour, 5 * time.Minute, 0.999999, 96 * time.Minute},
		{"min_remaining moves it earlier", 10 * time.Minute, 6 * time.Minute, 0.5, 4 * time.Minute},
		{"but not before a quarter", 10 * time.Minute, 9 * time.Minute, 0.5, 150 * time.Second},
	}
	for _, c := range cases {
		got := schedule(tok(c.life), c.minRem, 0, c.rnd).Sub(now)
		if d := got - c.want; d < -time.Second || d > time.Second {
			t.Errorf("%s: refresh after %v, want %v", c.name, got, c.want)
		}
	}
	// The jitter spreads refreshes over the whole window.
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for i := range 1000 {
		d := schedule(tok(time.Hour), 0, 0, float64(i)/1000).Sub(now)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo != 24*time.Minute || hi < 47*time.Minute || hi > 48*time.Minute {
		t.Errorf("refresh window [%v, %v], want [24m, 48m]", lo, hi)
	}
}
