package ztsdev_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/AthenZ/athenz/clients/go/zts"

	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

// TestPublicEndpoints covers the calls a client can make without a
// certificate, all through the official client.
func TestPublicEndpoints(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	c := inst.Client(t, "")

	st, err := c.GetStatus()
	if err != nil || st.Code != 200 || st.Message != "OK" {
		t.Errorf("GetStatus = %+v, %v", st, err)
	}

	oidc, err := c.GetOpenIDConfig()
	if err != nil {
		t.Fatalf("GetOpenIDConfig: %v", err)
	}
	if oidc.Issuer != inst.URL || oidc.Jwks_uri != inst.URL+"/oauth2/keys?rfc=true" ||
		oidc.Authorization_endpoint != inst.URL+"/oauth2/auth" {
		t.Errorf("OpenID config = %+v", oidc)
	}
	oauth, err := c.GetOAuthConfig()
	if err != nil {
		t.Fatalf("GetOAuthConfig: %v", err)
	}
	if oauth.Issuer != oidc.Issuer || oauth.Token_endpoint != inst.URL+"/oauth2/token" ||
		oauth.Introspection_endpoint == "" || oauth.Jwks_uri != oidc.Jwks_uri {
		t.Errorf("OAuth config = %+v", oauth)
	}

	// GetJWKList(nil, "") sends ?service= (empty): the ZTS keys.
	list, err := c.GetJWKList(nil, "")
	if err != nil || len(list.Keys) != 1 || list.Keys[0].Crv != "prime256v1" || list.Keys[0].Kid != "0" {
		t.Errorf("legacy JWKList = %+v, %v", list, err)
	}
	rfc := true
	list, err = c.GetJWKList(&rfc, "zts")
	if err != nil || len(list.Keys) != 1 || list.Keys[0].Crv != "P-256" {
		t.Errorf("rfc JWKList = %+v, %v", list, err)
	}
	list, err = c.GetJWKList(&rfc, "zms")
	if err != nil || list.Keys == nil || len(list.Keys) != 0 {
		t.Errorf("ZMS JWKList = %+v, %v", list, err)
	}

	for _, name := range []string{"athenz", "system"} {
		b, err := c.GetCertificateAuthorityBundle(zts.SimpleName(name))
		if err != nil || string(b.Name) != name || b.Certs != string(inst.Server.CACertPEM()) {
			t.Errorf("bundle %s = %+v, %v", name, b, err)
		}
	}
	_, err = c.GetCertificateAuthorityBundle("ssh")
	wantCode(t, err, 404)

	pk, err := c.GetPublicKeyEntry("sys.auth", "zts", "0")
	if err != nil || pk.Id != "0" || !strings.HasPrefix(pk.Key, "LS0tLS1CRUdJTi") {
		t.Errorf("GetPublicKeyEntry = %+v, %v", pk, err)
	}
	_, err = c.GetPublicKeyEntry("sys.auth", "zts", "9")
	wantCode(t, err, 404)
}

// TestErrorShape checks that every error, including unknown routes and
// methods, is a JSON ResourceError whose code is the HTTP status.
func TestErrorShape(t *testing.T) {
	inst := ztsdevtest.Start(t, "")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: inst.TLSConfig(t, "")}}
	t.Cleanup(hc.CloseIdleConnections)

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/zts/v1/nosuch", 404},
		{"GET", "/", 404},
		{"GET", "/zts/v1/rolecert", 404}, // wrong method
		{"GET", "/zts/v1/domain/sia.demo/token", 401},
		{"POST", "/zts/v1/instance", 400},
		{"GET", "/zts/v1/oauth2/keys?rfc=maybe", 400},
		{"GET", "/zts/v1/cacerts/ssh", 404},
	} {
		req, err := http.NewRequest(tc.method, strings.TrimSuffix(inst.URL, "/zts/v1")+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != tc.code || e.Code != tc.code || e.Message == "" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: status %d, content type %q, body %s; want %d with a ResourceError",
				tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.code)
		}
	}
}
