package ztsdev_test

import (
	"crypto/tls"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/AthenZ/athenz/clients/go/zts/token"

	"github.com/sia-agent/sia-agent/ztsdev"
	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// roleTokenRE is the exact field order of RoleToken.java.
var roleTokenRE = regexp.MustCompile(`^v=Z1;d=[^;]+;r=[^;]+(;c=1)?(;p=[^;]+)?(;h=[^;]+)?(;proxy=[^;]+)?;a=[0-9a-f]{1,16};t=\d+;e=\d+;k=[^;]+(;i=[^;]+)?;s=[A-Za-z0-9._]+-*$`)

func TestRoleToken(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	c := inst.Client(t, agentName)
	keys := publishedKeys(t, c)
	i32 := func(v int32) *int32 { return &v }

	tests := []struct {
		name         string
		role         zts.EntityList
		min, max     *int32
		wantRoles    string
		wantLife     int64
		wantComplete bool
	}{
		{name: "one role", role: "reader", wantRoles: "reader", wantLife: 7200},
		{name: "two roles", role: "writer,reader", wantRoles: "reader,writer", wantLife: 7200},
		{name: "all roles", wantRoles: "admin,everyone,reader,short-lived,writer", wantLife: 600, wantComplete: true},
		{name: "max expiry", role: "reader", max: i32(300), wantRoles: "reader", wantLife: 300},
		{name: "min expiry below default", role: "reader", min: i32(100), wantRoles: "reader", wantLife: 7200},
		{name: "min expiry above default", role: "reader", min: i32(9000), wantRoles: "reader", wantLife: 9000},
		{name: "server max", role: "reader", max: i32(1 << 30), wantRoles: "reader", wantLife: 2592000},
		{name: "role cap", role: "short-lived", max: i32(3600), wantRoles: "short-lived", wantLife: 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := c.GetRoleToken(demoDomain, tt.role, tt.min, tt.max, "")
			if err != nil {
				t.Fatalf("GetRoleToken: %v", err)
			}
			if !roleTokenRE.MatchString(rt.Token) {
				t.Fatalf("token %q is not in Athenz format", rt.Token)
			}
			f := verifyRoleToken(t, keys, rt.Token)
			issued, _ := strconv.ParseInt(f["t"], 10, 64)
			expiry, _ := strconv.ParseInt(f["e"], 10, 64)
			if f["d"] != demoDomain || f["r"] != tt.wantRoles || f["p"] != agentName || f["k"] != "0" ||
				f["h"] != "127.0.0.1" || f["i"] != "127.0.0.1" {
				t.Errorf("fields = %v", f)
			}
			if _, complete := f["c"]; complete != tt.wantComplete {
				t.Errorf("c=1 present = %v, want %v", complete, tt.wantComplete)
			}
			if expiry != rt.ExpiryTime || expiry-issued != tt.wantLife {
				t.Errorf("t=%d e=%d expiryTime=%d, want lifetime %d", issued, expiry, rt.ExpiryTime, tt.wantLife)
			}
			if d := time.Since(time.Unix(issued, 0)); d < -time.Second || d > time.Minute {
				t.Errorf("issued at %v", time.Unix(issued, 0))
			}
		})
	}

	t.Run("refusals", func(t *testing.T) {
		_, err := inst.Client(t, "").GetRoleToken(demoDomain, "reader", nil, nil, "")
		wantCode(t, err, 401)
		_, err = c.GetRoleToken("no.such", "reader", nil, nil, "")
		wantCode(t, err, 404)
		_, err = c.GetRoleToken(demoDomain, "former", nil, nil, "")
		wantCode(t, err, 403)
		_, err = inst.Client(t, "other.svc").GetRoleToken(demoDomain, "reader", nil, nil, "")
		wantCode(t, err, 403)
		_, err = c.GetRoleToken(demoDomain, "reader", nil, nil, "sia.demo.client")
		wantCode(t, err, 403)
		_, err = c.GetRoleToken(demoDomain, "bad role!", nil, nil, "")
		wantCode(t, err, 400)
	})

	t.Run("role certificate principal", func(t *testing.T) {
		certPEM, kPEM := inst.MintCert(t, ztsdev.CertSpec{Principal: agentName, Role: "sia.demo:role.reader"})
		rc := clientWithCert(t, inst, certPEM, kPEM)
		if _, err := rc.GetRoleToken(demoDomain, "reader", nil, nil, ""); err != nil {
			t.Fatalf("token for the cert's role: %v", err)
		}
		_, err := rc.GetRoleToken(demoDomain, "writer", nil, nil, "")
		wantCode(t, err, 403)
	})
}

func TestProxyForPrincipal(t *testing.T) {
	cfg := `
server:
  authorizedProxyUsers: [sia.demo.proxy]
domains:
  - name: sia.demo
    roles:
      - {name: reader, members: [sia.demo.proxy, user.alice]}
      - {name: writer, members: [sia.demo.proxy]}
`
	inst := ztsdevtest.Start(t, cfg)
	proxy := inst.Client(t, "sia.demo.proxy")
	keys := publishedKeys(t, proxy)

	rt, err := proxy.GetRoleToken(demoDomain, "", nil, nil, "user.alice")
	if err != nil {
		t.Fatalf("proxy role token: %v", err)
	}
	f := verifyRoleToken(t, keys, rt.Token)
	if f["p"] != "user.alice" || f["proxy"] != "sia.demo.proxy" || f["r"] != "reader" {
		t.Errorf("proxy token fields = %v", f)
	}
	_, err = proxy.GetRoleToken(demoDomain, "writer", nil, nil, "user.alice")
	wantCode(t, err, 403)

	at, err := proxy.PostAccessTokenRequest(zts.AccessTokenRequest(url.Values{
		"grant_type": {"client_credentials"}, "scope": {"sia.demo:domain"}, "proxy_for_principal": {"user.alice"},
	}.Encode()))
	if err != nil {
		t.Fatalf("proxy access token: %v", err)
	}
	_, claims := verifyJWT(t, keys, at.Access_token)
	if claims["sub"] != "user.alice" || claims["proxy"] != "sia.demo.proxy" {
		t.Errorf("proxy access token claims = %v", claims)
	}
}

func TestAccessToken(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	tlsCfg := inst.TLSConfig(t, agentName)
	c := inst.ClientWithTLS(t, tlsCfg)
	keys := publishedKeys(t, c)
	oidc, err := c.GetOpenIDConfig()
	if err != nil {
		t.Fatal(err)
	}
	request := func(kv ...string) zts.AccessTokenRequest {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return zts.AccessTokenRequest(v.Encode())
	}

	resp, err := c.PostAccessTokenRequest(request("grant_type", "client_credentials", "scope", "sia.demo:role.reader"))
	if err != nil {
		t.Fatalf("PostAccessTokenRequest: %v", err)
	}
	if resp.Token_type != "Bearer" || resp.Expires_in == nil || *resp.Expires_in != 7200 || resp.Scope != "" || resp.Id_token != "" {
		t.Errorf("response = %+v", resp)
	}
	h, claims := verifyJWT(t, keys, resp.Access_token)
	if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID != "0" || h.Algorithm != "ES256" {
		t.Errorf("header = %+v", h)
	}
	leaf := tlsCfg.Certificates[0].Leaf
	cnf, _ := claims["cnf"].(map[string]any)
	wantClaims := map[string]any{
		"ver": 1.0, "aud": demoDomain, "sub": agentName, "client_id": agentName, "uid": agentName,
		"iss": oidc.Issuer, "scope": "reader",
	}
	for k, want := range wantClaims {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if scp, _ := claims["scp"].([]any); len(scp) != 1 || scp[0] != "reader" {
		t.Errorf("scp = %v", claims["scp"])
	}
	if cnf["x5t#S256"] != thumbprint(leaf.Raw) {
		t.Errorf("cnf = %v, want the client cert thumbprint", cnf)
	}
	if iat, exp := claims["iat"].(float64), claims["exp"].(float64); exp-iat != 7200 || claims["auth_time"] != iat {
		t.Errorf("iat %v exp %v auth_time %v", iat, exp, claims["auth_time"])
	}
	if oidc.Issuer != inst.URL {
		t.Errorf("issuer %q, want the base URL %q", oidc.Issuer, inst.URL)
	}

	t.Run("openid and domain scope", func(t *testing.T) {
		resp, err := c.PostAccessTokenRequest(request("grant_type", "client_credentials",
			"scope", "openid sia.demo:service.agent sia.demo:domain", "expires_in", "100000"))
		if err != nil {
			t.Fatalf("PostAccessTokenRequest: %v", err)
		}
		// short-lived's 10 minute cap governs the whole set.
		if *resp.Expires_in != 600 {
			t.Errorf("expires_in = %d, want 600", *resp.Expires_in)
		}
		wantScope := "sia.demo:role.admin sia.demo:role.everyone sia.demo:role.reader sia.demo:role.short-lived sia.demo:role.writer openid"
		if resp.Scope != wantScope {
			t.Errorf("scope = %q, want %q", resp.Scope, wantScope)
		}
		h, id := verifyJWT(t, keys, resp.Id_token)
		if _, hasTyp := h.ExtraHeaders["typ"]; hasTyp || h.KeyID != "0" {
			t.Errorf("ID token header = %+v", h)
		}
		if id["aud"] != agentName || id["sub"] != agentName || id["iss"] != oidc.Issuer || id["exp"].(float64)-id["iat"].(float64) != 600 {
			t.Errorf("ID token claims = %v", id)
		}
		_, claims := verifyJWT(t, keys, resp.Access_token)
		if scp := claims["scp"].([]any); len(scp) != 5 {
			t.Errorf("scp = %v", scp)
		}
	})

	t.Run("partial grant returns scope", func(t *testing.T) {
		resp, err := c.PostAccessTokenRequest(request("grant_type", "client_credentials",
			"scope", "sia.demo:role.reader sia.demo:role.nosuch"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Scope != "sia.demo:role.reader" {
			t.Errorf("scope = %q", resp.Scope)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			client zts.ZTSClient
			req    zts.AccessTokenRequest
			code   int
		}{
			{"no client cert", inst.Client(t, ""), request("grant_type", "client_credentials", "scope", "sia.demo:domain"), 401},
			{"bad grant", c, request("grant_type", "password", "scope", "sia.demo:domain"), 400},
			{"no scope", c, request("grant_type", "client_credentials"), 400},
			{"two domains", c, request("grant_type", "client_credentials", "scope", "sia.demo:domain other:domain"), 400},
			{"no domain", c, request("grant_type", "client_credentials", "scope", "openid"), 400},
			{"openid without service", c, request("grant_type", "client_credentials", "scope", "openid sia.demo:domain"), 400},
			{"no such domain", c, request("grant_type", "client_credentials", "scope", "no.such:domain"), 404},
			{"not a member", c, request("grant_type", "client_credentials", "scope", "sia.demo:role.former"), 403},
			{"stranger", inst.Client(t, "x.y"), request("grant_type", "client_credentials", "scope", "sia.demo:role.reader"), 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tc.client.PostAccessTokenRequest(tc.req)
				wantCode(t, err, tc.code)
			})
		}
	})
}

func TestOpenIDScopeDisabled(t *testing.T) {
	inst := ztsdevtest.Start(t, "server: {openidScope: false}\ndomains: [{name: d, roles: [{name: r, members: ['*']}]}]\n")
	resp, err := inst.Client(t, "d.s").PostAccessTokenRequest(zts.AccessTokenRequest(url.Values{
		"grant_type": {"client_credentials"}, "scope": {"openid d:service.s d:role.r"},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id_token != "" {
		t.Error("ID token issued although openidScope is false")
	}
}

// TestTokenClients drives the official clients/go/zts/token package. It
// trusts only system roots, so the test hands it the dev CA with
// SetTLSConfig (an agent would set SSL_CERT_FILE instead).
func TestTokenClients(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	certFile, keyFile := inst.ServiceCertFiles(t, agentName)
	keys := publishedKeys(t, inst.Client(t, ""))
	tlsCfg := inst.TLSConfig(t, "")
	pair := loadPair(t, certFile, keyFile)
	tlsCfg.Certificates = []tls.Certificate{pair}

	rtc, cancelRT := token.NewRoleTokenClient(t.Context(), inst.URL, certFile, keyFile)
	t.Cleanup(cancelRT)
	rtc.SetTLSConfig(tlsCfg)
	rt, err := rtc.GetToken(demoDomain, []string{"reader", "writer"})
	if err != nil {
		t.Fatalf("RoleTokenClient.GetToken: %v", err)
	}
	if f := verifyRoleToken(t, keys, rt.GetToken().Token); f["r"] != "reader,writer" {
		t.Errorf("role token roles = %q", f["r"])
	}

	atc, cancelAT := token.NewAccessTokenClient(t.Context(), inst.URL, certFile, keyFile)
	t.Cleanup(cancelAT)
	atc.SetTLSConfig(tlsCfg)
	at, err := atc.GetToken(demoDomain, []string{"reader"})
	if err != nil {
		t.Fatalf("AccessTokenClient.GetToken: %v", err)
	}
	_, claims := verifyJWT(t, keys, at.GetToken().Access_token)
	if scp := claims["scp"].([]any); !slices.Equal(scp, []any{"reader"}) {
		t.Errorf("scp = %v", scp)
	}
	if at.GetExpiryTime() <= time.Now().Unix() {
		t.Errorf("access token expiry %d is not in the future", at.GetExpiryTime())
	}
}

func loadPair(t testing.TB, certFile, keyFile string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}
