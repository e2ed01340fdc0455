package ztsdev

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/AthenZ/athenz/libs/go/zmssvctoken"
)

// jwks is GetJWKList: GET /oauth2/keys?rfc=&service=. service=zms gets the
// (empty) ZMS list; anything else, including empty, the ZTS keys.
func (s *Server) jwks(_ context.Context, rq *request) (*response, *apiError) {
	q := rq.URL.Query()
	rfc := false
	if v := q.Get("rfc"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, badRequest("Invalid Bool error: rfc %q", v)
		}
		rfc = b
	}
	if strings.EqualFold(q.Get("service"), "zms") {
		return ok(&zts.JWKList{Keys: []*zts.JWK{}}), nil
	}
	return ok(s.jwkList(rq.st, rfc)), nil
}

func (s *Server) jwkList(st *state, rfc bool) *zts.JWKList {
	k, err := jwk(&s.keys.signingKey.PublicKey, st.cfg.Server.KeyID, rfc)
	if err != nil {
		// Only a non-NIST curve fails, and the key is always P-256.
		s.log.Error("encoding JWK", "error", err)
		return &zts.JWKList{Keys: []*zts.JWK{}}
	}
	return &zts.JWKList{Keys: []*zts.JWK{k}}
}

// openIDConfig is GetOpenIDConfig: GET /.well-known/openid-configuration.
func (s *Server) openIDConfig(_ context.Context, rq *request) (*response, *apiError) {
	iss := rq.st.issuer
	return ok(&zts.OpenIDConfig{
		Issuer:                                iss,
		Authorization_endpoint:                iss + "/oauth2/auth",
		Jwks_uri:                              iss + "/oauth2/keys?rfc=true",
		Response_types_supported:              []string{"id_token"},
		Subject_types_supported:               []string{"public"},
		Id_token_signing_alg_values_supported: []string{"ES256"},
		Claims_supported:                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "ver"},
	}), nil
}

// oauthConfig is GetOAuthConfig: GET /.well-known/oauth-authorization-server.
// introspection_endpoint is always set: the client requires it.
func (s *Server) oauthConfig(_ context.Context, rq *request) (*response, *apiError) {
	iss := rq.st.issuer
	return ok(&zts.OAuthConfig{
		Issuer:                   iss,
		Authorization_endpoint:   iss + "/oauth2/auth",
		Introspection_endpoint:   iss + "/oauth2/introspect",
		Token_endpoint:           iss + "/oauth2/token",
		Jwks_uri:                 iss + "/oauth2/keys?rfc=true",
		Response_types_supported: []string{"token", "id_token token"},
		Grant_types_supported:    []string{"client_credentials"},
		Token_endpoint_auth_signing_alg_values_supported: []string{"ES256"},
	}), nil
}

// caCerts is GetCertificateAuthorityBundle: GET /cacerts/{name}. The
// "athenz" and "system" bundles are the dev CA.
func (s *Server) caCerts(_ context.Context, rq *request) (*response, *apiError) {
	name := rq.PathValue("name")
	if !isSimpleName(name) {
		return nil, badRequest("Invalid SimpleName error: %q", name)
	}
	switch name {
	case "athenz", "system":
		return ok(&zts.CertificateAuthorityBundle{Name: zts.SimpleName(name), Certs: string(s.keys.caPEM)}), nil
	}
	return nil, notFound("getCertificateAuthorityBundle: No such bundle: %s", name)
}

// publicKey is GetPublicKeyEntry for the ZTS service itself
// (sys.auth.zts), where verifiers look up a role token's k= key.
func (s *Server) publicKey(_ context.Context, rq *request) (*response, *apiError) {
	domain := strings.ToLower(rq.PathValue("domain"))
	service := strings.ToLower(rq.PathValue("service"))
	keyID := rq.PathValue("keyId")
	if domain != "sys.auth" || service != "zts" || keyID != rq.st.cfg.Server.KeyID {
		return nil, notFound("getPublicKeyEntry: No such key: %s.%s/%s", domain, service, keyID)
	}
	pubPEM, err := publicKeyPEM(&s.keys.signingKey.PublicKey)
	if err != nil {
		return nil, serverError("getPublicKeyEntry: %v", err)
	}
	return ok(&zts.PublicKeyEntry{Key: new(zmssvctoken.YBase64).EncodeToString(pubPEM), Id: keyID}), nil
}

// status is GetStatus: GET /status.
func (s *Server) status(context.Context, *request) (*response, *apiError) {
	return ok(&zts.Status{Code: 200, Message: "OK"}), nil
}

func publicKeyPEM(key *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
