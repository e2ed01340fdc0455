package token

// API compatibility with k8s-athenz-sia's token server: the exact bytes,
// headers and codes an existing client sees, against a real (dev) ZTS.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

const jsonCT = "application/json; charset=utf-8"

var (
	jwtRE       = `[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`
	roleTokenRE = `v=Z1;d=sia\.demo;r=[a-z,-]+;[^"]*;s=[A-Za-z0-9._-]+`
)

func TestCompatHeaderMode(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config("targets:\n  - {domain: sia.demo, roles: [reader]}\n"))

	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if a.code != 200 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	at := strings.TrimPrefix(a.header.Get("Authorization"), "bearer ")
	rt := a.header.Get("Athenz-Role-Auth")
	if !regexp.MustCompile(`^`+jwtRE+`$`).MatchString(at) || !strings.HasPrefix(a.header.Get("Authorization"), "bearer ") {
		t.Errorf("Authorization %q, want %q", a.header.Get("Authorization"), "bearer <JWT>")
	}
	if !regexp.MustCompile(`^` + roleTokenRE + `$`).MatchString(rt) {
		t.Errorf("Athenz-Role-Auth %q", rt)
	}
	// k8s-athenz-sia's json.Marshal of a map: sorted keys, no newline.
	if want := `{"accesstoken":"` + at + `","roletoken":"` + rt + `"}`; a.body != want {
		t.Errorf("body\n got %s\nwant %s", a.body, want)
	}
	if ct := a.header.Get("Content-Type"); ct != jsonCT {
		t.Errorf("Content-Type %q", ct)
	}
	// Any path, any method.
	if b := do(t, nil, "DELETE", s.base+"/some/path?x=1", headers("sia.demo", "reader"), ""); b.code != 200 || b.body != a.body {
		t.Errorf("DELETE /some/path: %d %s", b.code, b.body)
	}
	// Not configured: fetched on demand (k8s-athenz-sia answered 400).
	if b := do(t, nil, "GET", s.base+"/", headers("sia.demo", "writer"), ""); b.code != 200 {
		t.Errorf("on demand: %d %s", b.code, b.body)
	}
	// Both headers are required, with k8s-athenz-sia's message.
	b := do(t, nil, "GET", s.base+"/", headers("sia.demo", ""), "")
	if b.code != 400 || b.body != `{"error":"http headers not set: X-Athenz-Domain[sia.demo] X-Athenz-Role[]."}` {
		t.Errorf("missing role: %d %s", b.code, b.body)
	}
}

func TestCompatHeaderModeOneTokenType(t *testing.T) {
	z := startZTS(t, "")
	for _, c := range []struct{ types, extra, body, absent, present string }{
		{"[roletoken]", "role_auth_header: x-role-token", `{"roletoken":"`, "Authorization", "X-Role-Token"},
		{"[accesstoken]", "", `{"accesstoken":"`, "Athenz-Role-Auth", "Authorization"},
	} {
		// token_expiry is set: k8s-athenz-sia then never found access tokens
		// in header mode.
		s := start(t, z.config("token_types: "+c.types+"\ntoken_expiry: 1h\nserver: {"+c.extra+"}\ntargets: [{domain: sia.demo, roles: [reader]}]\n"))
		a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
		if a.code != 200 || !strings.HasPrefix(a.body, c.body) || strings.Count(a.body, `":"`) != 1 {
			t.Errorf("%s: %d %s", c.types, a.code, a.body)
		}
		if a.header.Get(c.absent) != "" || a.header.Get(c.present) == "" {
			t.Errorf("%s: headers %v", c.types, a.header)
		}
	}
}

func TestCompatRESTAccessToken(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config(""))
	withoutScope := regexp.MustCompile(`^\{"access_token":"(` + jwtRE + `)","expires_in":(\d+),"token_type":"Bearer"\}\n$`)
	withScope := regexp.MustCompile(`^\{"access_token":"(` + jwtRE + `)","expires_in":(\d+),"scope":"([a-z.:\- ]+)","token_type":"Bearer"\}\n$`)

	cases := []struct {
		body    string
		re      *regexp.Regexp
		life    int    // seconds
		scope   string // when re is withScope
		roles   []string
		comment string
	}{
		{`{"domain":"sia.demo","role":"reader"}`, withoutScope, 7200, "", []string{"reader"}, "one role, ZTS default lifetime"},
		{`{"domain":"sia.demo","role":"writer,reader","expiry":600}`, withoutScope, 600, "", []string{"reader", "writer"}, "two roles, expiry"},
		{`{"domain":"sia.demo"}`, withScope, 600, "sia.demo:role.admin sia.demo:role.everyone sia.demo:role.reader sia.demo:role.short-lived sia.demo:role.writer", nil, "whole domain: ZTS returns the scope; capped by short-lived"},
	}
	for _, c := range cases {
		a := do(t, nil, "POST", s.base+"/accesstoken", http.Header{"Content-Type": {"application/json"}}, c.body)
		if a.code != 200 || a.header.Get("Content-Type") != jsonCT {
			t.Errorf("%s: %d %v %s", c.comment, a.code, a.header, a.body)
			continue
		}
		m := c.re.FindStringSubmatch(a.body)
		if m == nil {
			t.Errorf("%s: body %q does not have k8s-athenz-sia's shape", c.comment, a.body)
			continue
		}
		if in, _ := strconv.Atoi(m[2]); in > c.life || in < c.life-5 {
			t.Errorf("%s: expires_in %d, want about %d", c.comment, in, c.life)
		}
		if c.re == withScope && m[3] != c.scope {
			t.Errorf("%s: scope %q, want %q", c.comment, m[3], c.scope)
		}
		claims := jwtClaims(t, m[1])
		if exp := int64(claims["exp"].(float64)); exp-time.Now().Unix() > int64(c.life) {
			t.Errorf("%s: exp %d is more than %ds away", c.comment, exp, c.life)
		}
		if c.roles != nil && strings.Join(toStrings(claims["scp"]), ",") != strings.Join(c.roles, ",") {
			t.Errorf("%s: scp %v, want %v", c.comment, claims["scp"], c.roles)
		}
	}
	// expires_in is computed per request: a cached token's shrinks.
	a := do(t, nil, "POST", s.base+"/accesstoken", nil, `{"domain":"sia.demo","role":"reader","expiry":0}`)
	if m := withoutScope.FindStringSubmatch(a.body); m == nil {
		t.Errorf("cached: %s", a.body)
	}
}

func TestCompatRESTRoleToken(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config(""))
	re := regexp.MustCompile(`^\{"expiryTime":(\d+),"token":"(` + roleTokenRE + `)"\}\n$`)
	cases := []struct {
		body string
		life int64
		why  string
	}{
		{`{"domain":"sia.demo","role":"reader"}`, 7200, "ZTS default"},
		{`{"domain":"sia.demo","role":"reader","min_expiry":10000}`, 10000, "min_expiry above the default"},
		{`{"domain":"sia.demo","role":"writer","max_expiry":60,"proxy_for_principal":null}`, 7200, "max_expiry is ignored, as in k8s-athenz-sia (#97)"},
	}
	for _, c := range cases {
		a := do(t, nil, "POST", s.base+"/roletoken", nil, c.body)
		m := re.FindStringSubmatch(a.body)
		if a.code != 200 || a.header.Get("Content-Type") != jsonCT || m == nil {
			t.Errorf("%s: %d %v %q", c.why, a.code, a.header, a.body)
			continue
		}
		fields := map[string]string{}
		for _, kv := range strings.Split(m[2], ";") {
			k, v, _ := strings.Cut(kv, "=")
			fields[k] = v
		}
		issued, _ := strconv.ParseInt(fields["t"], 10, 64)
		if fields["e"] != m[1] {
			t.Errorf("%s: expiryTime %s, token e=%s", c.why, m[1], fields["e"])
		}
		if exp, _ := strconv.ParseInt(m[1], 10, 64); exp-issued != c.life {
			t.Errorf("%s: lifetime %ds, want %d", c.why, exp-issued, c.life)
		}
	}
}

func TestCompatErrorsFromZTS(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config(""))
	cases := []struct {
		path, body string
		code       int
		want       string
	}{
		{"/roletoken", `{"domain":"sia.demo","role":"former"}`, 403, `{"error":"ZTS refused to issue the token to the agent's identity (not a member of the role, no such role, or not authorized for the proxy principal): roletoken/sia.demo:former"}`},
		{"/accesstoken", `{"domain":"sia.demo","role":"reader","proxy_for_principal":"sia.demo.client"}`, 403, `{"error":"ZTS refused to issue the token to the agent's identity (not a member of the role, no such role, or not authorized for the proxy principal): accesstoken/sia.demo:reader;proxy=sia.demo.client"}`},
		{"/accesstoken", `{"domain":"no.such.domain"}`, 404, `{"error":"ZTS has no such domain: accesstoken/no.such.domain"}`},
	}
	for _, c := range cases {
		a := do(t, nil, "POST", s.base+c.path, nil, c.body)
		if a.code != c.code || a.body != c.want {
			t.Errorf("%s %s: %d %s, want %d %s", c.path, c.body, a.code, a.body, c.code, c.want)
		}
		if strings.Contains(a.body, z.URL) || strings.Contains(a.body, "127.0.0.1") {
			t.Errorf("the body names ZTS: %s", a.body)
		}
	}
}

func TestHeaderModeOffAnswers404(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config("server: {header_mode: false}\n"))
	a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "reader"), "")
	if a.code != 404 || a.body != `{"error":"no such endpoint: the token server serves POST /accesstoken and POST /roletoken"}` {
		t.Errorf("%d %s", a.code, a.body)
	}
}

func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// k8s-athenz-sia-style clients send JSON as JSON, as Go's http.Post and
// curl -H 'Content-Type: application/json' do: they work unchanged.
func TestCompatClientsSendingJSON(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config(""))
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8"} {
		resp, err := http.Post(s.base+"/roletoken", ct, strings.NewReader(`{"domain":"sia.demo","role":"reader"}`))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Token string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || !strings.HasPrefix(body.Token, "v=Z1;d=sia.demo;r=reader;") {
			t.Errorf("%s: %d %v %q", ct, resp.StatusCode, err, body.Token)
		}
	}
}

// The docs said 404 for "no such domain or role"; ZTS answers 403
// for an unknown role. Against zts-dev: what clients get, and messages
// that say it.
func TestUnknownDomainIs404AndUnknownRoleIs403(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config(""))
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"domain":"no.such.domain","role":"reader"}`, 404, `{"error":"ZTS has no such domain: roletoken/no.such.domain:reader"}`},
		{`{"domain":"sia.demo","role":"no-such-role"}`, 403, `{"error":"ZTS refused to issue the token to the agent's identity (not a member of the role, no such role, or not authorized for the proxy principal): roletoken/sia.demo:no-such-role"}`},
	} {
		if a := do(t, nil, "POST", s.base+"/roletoken", nil, c.body); a.code != c.code || a.body != c.want {
			t.Errorf("%s: %d %s, want %d %s", c.body, a.code, a.body, c.code, c.want)
		}
	}
}

// With openid_service, access tokens ask for the openid scope as
// k8s-athenz-sia's did with SERVICEACCOUNT: ZTS says so in the scope it
// returns for a whole domain. A proxy request goes without it, which ZTS
// would refuse ("Proxy Principal cannot request id tokens").
func TestOpenIDServiceAddsTheOpenIDScope(t *testing.T) {
	cfg := strings.Replace(string(ztsdev.DemoConfig()), "authorizedProxyUsers: []", "authorizedProxyUsers: [sia.demo.agent]", 1)
	z := startZTS(t, cfg)
	s := start(t, z.config("openid_service: agent\n"))
	scope := regexp.MustCompile(`"scope":"([^"]*)"`)

	a := do(t, nil, "POST", s.base+"/accesstoken", nil, `{"domain":"sia.demo"}`)
	if m := scope.FindStringSubmatch(a.body); a.code != 200 || m == nil || !strings.HasSuffix(m[1], " openid") {
		t.Errorf("whole domain with openid_service: %d %s, want a scope that ends in openid", a.code, a.body)
	}
	a = do(t, nil, "POST", s.base+"/accesstoken", nil, `{"domain":"sia.demo","role":"writer","proxy_for_principal":"sia.demo.client"}`)
	if a.code != 200 {
		t.Errorf("proxy request with openid_service: %d %s, want 200", a.code, a.body)
	}
	cfg2, err := sdk.ParseConfig("p.yaml", "endpoint: https://zts:4443/zts/v1\ncert_file: c\nkey_file: k\nopenid_service: a.b\n")
	if err != nil {
		t.Fatal(err)
	}
	want := `p.yaml:4: openid_service: "a.b" is not an Athenz service name`
	if err := (&Provider{}).Validate(t.Context(), cfg2); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("openid_service a.b: %v, want %q", err, want)
	}
}
