package ztsdev

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/go-jose/go-jose/v4"
)

// jwtSigners sign access tokens (header typ at+jwt) and ID tokens (no typ),
// both ES256 with the kid of the current config.
type jwtSigners struct {
	access jose.Signer
	id     jose.Signer
}

func newJWTSigners(key *ecdsa.PrivateKey, keyID string) (*jwtSigners, error) {
	sk := jose.SigningKey{Algorithm: jose.ES256, Key: key}
	access, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", keyID))
	if err != nil {
		return nil, fmt.Errorf("creating access token signer: %w", err)
	}
	id, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithHeader("kid", keyID))
	if err != nil {
		return nil, fmt.Errorf("creating ID token signer: %w", err)
	}
	return &jwtSigners{access: access, id: id}, nil
}

// accessClaims are the claims of AccessToken.getSignedToken. aud is the
// bare domain as a string, and scp holds short role names.
type accessClaims struct {
	Ver          int            `json:"ver"`
	JTI          string         `json:"jti"`
	Aud          string         `json:"aud"`
	ClientID     string         `json:"client_id"`
	UID          string         `json:"uid"`
	Sub          string         `json:"sub"`
	IAT          int64          `json:"iat"`
	AuthTime     int64          `json:"auth_time"`
	Exp          int64          `json:"exp"`
	Iss          string         `json:"iss"`
	Scp          []string       `json:"scp"`
	Scope        string         `json:"scope"`
	Proxy        string         `json:"proxy,omitempty"`
	AuthzDetails string         `json:"authorization_details,omitempty"`
	Cnf          map[string]any `json:"cnf,omitempty"`
}

// idClaims are the claims of IdToken.getSignedToken on the access token
// path: aud is "<domain>.<service>".
type idClaims struct {
	Ver      int    `json:"ver"`
	Aud      string `json:"aud"`
	Sub      string `json:"sub"`
	Iss      string `json:"iss"`
	IAT      int64  `json:"iat"`
	AuthTime int64  `json:"auth_time"`
	Exp      int64  `json:"exp"`
}

func signJWT(s jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing JWT: %w", err)
	}
	return jws.CompactSerialize()
}

// certThumbprint is the RFC 8705 x5t#S256 confirmation: base64url without
// padding of SHA-256 over the DER certificate.
func certThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// jwk publishes the signing key. rfc selects RFC 7518 curve names; the
// legacy form differs only in using the BouncyCastle name.
func jwk(key *ecdsa.PublicKey, keyID string, rfc bool) (*zts.JWK, error) {
	ek, err := key.ECDH()
	if err != nil {
		return nil, fmt.Errorf("converting signing key: %w", err)
	}
	pt := ek.Bytes() // 0x04 || X || Y, fixed width
	n := (len(pt) - 1) / 2
	crv := "P-256"
	if !rfc {
		crv = "prime256v1"
	}
	return &zts.JWK{
		Kty: "EC",
		Kid: keyID,
		Alg: "ES256",
		Use: "sig",
		Crv: crv,
		X:   base64.RawURLEncoding.EncodeToString(pt[1 : 1+n]),
		Y:   base64.RawURLEncoding.EncodeToString(pt[1+n:]),
	}, nil
}
