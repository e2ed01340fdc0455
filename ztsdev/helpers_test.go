package ztsdev_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/AthenZ/athenz/clients/go/zts"
	"github.com/ardielle/ardielle-go/rdl"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/sia-agent/sia-agent/ztsdev/ztsdevtest"
)

const (
	demoDomain   = "sia.demo"
	demoService  = "agent"
	demoProvider = "sys.auth.dev"
	demoSecret   = "dev-attestation-secret"
	agentName    = demoDomain + "." + demoService
	dnsSuffix    = "zts.athenz.cloud"
)

// testKeys caches one RSA key per test binary: generating RSA-2048 keys is
// the slowest thing these tests would otherwise do.
var testKeys = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// csrSpec describes a CSR; the zero value of a field leaves it out.
type csrSpec struct {
	cn     string
	ou     string
	dns    []string
	emails []string
	uris   []string
}

func makeCSR(t testing.TB, key crypto.Signer, spec csrSpec) string {
	t.Helper()
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: spec.cn, Organization: []string{"Dev"}, Country: []string{"US"}},
		DNSNames:       spec.dns,
		EmailAddresses: spec.emails,
	}
	if spec.ou != "" {
		tmpl.Subject.OrganizationalUnit = []string{spec.ou}
	}
	for _, u := range spec.uris {
		tmpl.URIs = append(tmpl.URIs, mustURL(t, u))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// serviceCSR is what SIA's GenerateSvcCertCSR sends for agent/instanceID.
func serviceCSR(t testing.TB, key crypto.Signer, instanceID string) string {
	return makeCSR(t, key, csrSpec{
		cn:  agentName,
		ou:  demoProvider,
		dns: []string{"agent.sia-demo." + dnsSuffix, "*.agent.sia-demo." + dnsSuffix},
		uris: []string{
			"spiffe://sia.demo/sa/agent",
			"athenz://instanceid/" + demoProvider + "/" + instanceID,
		},
	})
}

// roleCSR is what SIA's GenerateRoleCertCSR sends for principal and role.
func roleCSR(t testing.TB, key crypto.Signer, principal, domain, role string) string {
	return makeCSR(t, key, csrSpec{
		cn: domain + ":role." + role,
		ou: demoProvider,
		uris: []string{
			"spiffe://" + domain + "/ra/" + role,
			"athenz://principal/" + principal,
		},
	})
}

func registerInfo(t testing.TB, key crypto.Signer, instanceID string) *zts.InstanceRegisterInformation {
	yes := true
	return &zts.InstanceRegisterInformation{
		Provider:          demoProvider,
		Domain:            demoDomain,
		Service:           demoService,
		AttestationData:   demoSecret + "\n",
		Csr:               serviceCSR(t, key, instanceID),
		AthenzJWK:         &yes,
		AthenzJWKModified: &rdl.Timestamp{},
	}
}

// clientWithCert is the official client presenting certPEM/keyPEM.
func clientWithCert(t testing.TB, inst *ztsdevtest.Instance, certPEM, keyPEM []byte) zts.ZTSClient {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: inst.CAPool(), Certificates: []tls.Certificate{pair}}
	return inst.ClientWithTLS(t, cfg)
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func parseCert(t testing.TB, certPEM string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("no PEM in %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyChain checks cert against the dev CA for the given usage.
func verifyChain(t testing.TB, inst *ztsdevtest.Instance, cert *x509.Certificate, usage x509.ExtKeyUsage) {
	t.Helper()
	_, err := cert.Verify(x509.VerifyOptions{Roots: inst.CAPool(), KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		t.Fatalf("issued cert does not verify for %v: %v", usage, err)
	}
}

// wantCode asserts err is a ResourceError with the given code.
func wantCode(t testing.TB, err error, code int) {
	t.Helper()
	var re rdl.ResourceError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want ResourceError %d", err, err, code)
	}
	if re.Code != code {
		t.Fatalf("error = %v, want code %d", err, code)
	}
}

// publishedKeys fetches /oauth2/keys with the official client, as every
// verifier would, and returns the keys by kid.
func publishedKeys(t testing.TB, c zts.ZTSClient) map[string]*ecdsa.PublicKey {
	t.Helper()
	rfc := true
	list, err := c.GetJWKList(&rfc, "")
	if err != nil {
		t.Fatalf("GetJWKList: %v", err)
	}
	keys := make(map[string]*ecdsa.PublicKey)
	for _, k := range list.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" {
			t.Fatalf("unexpected JWK %+v", k)
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			t.Fatalf("bad JWK coordinates %+v", k)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatalf("JWK %s: %v", k.Kid, err)
		}
		keys[k.Kid] = pub
	}
	return keys
}

var yb64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._").WithPadding('-')

// verifyRoleToken checks a role token's signature with the published key
// named by its k= field and returns its fields.
func verifyRoleToken(t testing.TB, keys map[string]*ecdsa.PublicKey, token string) map[string]string {
	t.Helper()
	unsigned, sig, ok := strings.Cut(token, ";s=")
	if !ok {
		t.Fatalf("role token has no signature: %q", token)
	}
	fields := make(map[string]string)
	var order []string
	for _, kv := range strings.Split(unsigned, ";") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
		order = append(order, k)
	}
	pub := keys[fields["k"]]
	if pub == nil {
		t.Fatalf("role token key %q is not published", fields["k"])
	}
	raw, err := yb64.DecodeString(sig)
	if err != nil {
		t.Fatalf("role token signature is not ybase64: %v", err)
	}
	digest := sha256.Sum256([]byte(unsigned))
	if !ecdsa.VerifyASN1(pub, digest[:], raw) {
		t.Fatalf("role token signature does not verify: %q", token)
	}
	fields["_order"] = strings.Join(order, ",")
	return fields
}

// verifyJWT checks a JWT's signature against the published keys and
// returns its header and claims.
func verifyJWT(t testing.TB, keys map[string]*ecdsa.PublicKey, token string) (jose.Header, map[string]any) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parsing JWT: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("JWT has %d headers", len(tok.Headers))
	}
	h := tok.Headers[0]
	pub := keys[h.KeyID]
	if pub == nil {
		t.Fatalf("JWT kid %q is not published", h.KeyID)
	}
	claims := map[string]any{}
	if err := tok.Claims(pub, &claims); err != nil {
		t.Fatalf("JWT does not verify: %v", err)
	}
	return h, claims
}

// thumbprint is base64url(SHA-256(DER)).
func thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// tlsKey parses a PEM private key into a signer for CSRs.
func tlsKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

func refreshInfo(t testing.TB, key crypto.Signer, instanceID string) *zts.InstanceRefreshInformation {
	return &zts.InstanceRefreshInformation{AttestationData: demoSecret, Csr: serviceCSR(t, key, instanceID)}
}
