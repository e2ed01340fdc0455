package token

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Run with: go test -run '^$' -fuzz FuzzHeaderRequest ./plugins/token/
// (likewise FuzzRESTBody). The seeds run in every `go test`.

// FuzzHeaderRequest checks header-mode parsing: it never panics, accepts
// only valid Athenz names, and what it accepts is canonical (parsing it
// again changes nothing).
func FuzzHeaderRequest(f *testing.F) {
	for _, seed := range [][2]string{
		{"sia.demo", "reader"}, {"sia.demo", "writer,reader"}, {"Sia.Demo", " Reader , reader ,"},
		{"", ""}, {"d", ""}, {"", "r"}, {"d", ","}, {"bad domain", "r"}, {"d.", "r"}, {".d", "r"},
		{"d", "r,,s"}, {"d", "-r"}, {"d", "r-"}, {"a_b-c.d", "x.y,z_1"}, {"d", "r\x00"},
		{"d", "ré"}, {strings.Repeat("a", 300), "r"}, {"d", strings.Repeat("r,", 3000)},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, domain, role string) {
		h := http.Header{}
		if domain != "" {
			h[domainHeader] = []string{domain}
		}
		if role != "" {
			h[roleHeader] = []string{role}
		}
		q, msg := parseHeaderRequest(h)
		if msg != "" {
			if q != (headerRequest{}) {
				t.Fatalf("error %q with a request %+v", msg, q)
			}
			if !json.Valid(jsonString(msg)) {
				t.Fatalf("error %q does not encode", msg)
			}
			return
		}
		checkCanonical(t, q.Domain, q.Roles)
		if q.Roles == "" {
			t.Fatalf("accepted %q, %q without a role", domain, role)
		}
	})
}

// FuzzRESTBody checks the REST bodies' parsing: it never panics, and what
// it accepts is canonical, within ZTS's limits, and survives a round trip
// through k8s-athenz-sia's request encoding.
func FuzzRESTBody(f *testing.F) {
	for _, seed := range []string{
		`{"domain":"sia.demo","role":"reader"}`,
		`{"domain":"sia.demo","role":"writer,reader","expiry":600,"proxy_for_principal":"sia.demo.client"}`,
		`{"domain":"sia.demo","min_expiry":100,"max_expiry":60}`,
		`{"domain":"Sia.Demo","role":"a, b ,a"}`,
		`{"domain":""}`, `{}`, `null`, `[]`, `""`, ``, `{"domain":"d"}{}`, `{"domain":"d"} `,
		`{"domain":"d","foo":1}`, `{"domain":"d","expiry":-1}`, `{"domain":"d","expiry":1e3}`,
		`{"domain":"d","expiry":2147483648}`, `{"domain":"d","min_expiry":"1"}`, `{"domain":1}`,
		`{"domain":"d","role":null,"proxy_for_principal":null}`, `{"domain":"d\u0000"}`, `{"domain":"d","domain":"e"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for kind, parse := range map[kind]func([]byte, expiryRule) (Key, error){
			accessToken: parseAccessTokenRequest,
			roleToken:   parseRoleTokenRequest,
		} {
			k, err := parse(body, expiryRule{def: 7})
			if err != nil {
				if k != (Key{}) {
					t.Fatalf("%s: error %v with a key %+v", kind, err, k)
				}
				continue
			}
			if k.Kind != kind {
				t.Fatalf("%s: key of kind %s", kind, k.Kind)
			}
			checkCanonical(t, k.Domain, k.Roles)
			if checkPrincipal(k.ProxyForPrincipal) != nil || k.MinExpiry < 0 || k.MaxExpiry < 0 {
				t.Fatalf("%s: accepted an invalid key %+v", kind, k)
			}
			// With a minimum lifetime, only the default or at least the
			// minimum gets through.
			if k, err := parse(body, expiryRule{def: 7, min: 60}); err == nil {
				if e := k.MinExpiry + k.MaxExpiry; e != 7 && e < 60 {
					t.Fatalf("%s: accepted a lifetime of %ds below the minimum", kind, e)
				}
			}
			// What the parser accepted, re-encoded as a client would send it,
			// parses to the same key.
			again, err := parse(encodeRequest(k), expiryRule{def: 7})
			if err != nil || again != k {
				t.Fatalf("%s: round trip of %+v: %+v, %v", kind, k, again, err)
			}
		}
	})
}

func encodeRequest(k Key) []byte {
	req := map[string]any{"domain": k.Domain, "role": k.Roles}
	if k.ProxyForPrincipal != "" {
		req["proxy_for_principal"] = k.ProxyForPrincipal
	}
	if k.Kind == accessToken {
		req["expiry"] = k.MaxExpiry
	} else {
		req["min_expiry"] = k.MinExpiry
	}
	b, _ := json.Marshal(req)
	return b
}

func checkCanonical(t *testing.T, domain, roles string) {
	t.Helper()
	if checkCompoundName("domain", domain) != nil || !isLower(domain) {
		t.Fatalf("accepted domain %q", domain)
	}
	if !rolesCanonical(roles) {
		t.Fatalf("roles %q are not canonical", roles)
	}
	d, r, err := canonical(domain, roles)
	if err != nil || d != domain || r != roles {
		t.Fatalf("canonical(%q, %q) = %q, %q, %v: not idempotent", domain, roles, d, r, err)
	}
}
