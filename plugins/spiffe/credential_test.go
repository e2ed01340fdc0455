package spiffe

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
)

// What makes a certificate an X.509-SVID, as go-spiffe checks it.
func TestSVIDID(t *testing.T) {
	c := newCA(t)
	key := newKey(t)
	for _, tc := range []struct {
		name    string
		cert    *x509.Certificate
		id, bad string // bad: what the reason says; "" for an SVID
	}{
		{"identity", c.leaf(t, key, "a", agentID), agentID, ""},
		{"athenz URIs beside", c.leaf(t, key, "a", agentID, "athenz://instanceid/p/i"), agentID, "has 2 URI SANs (spiffe://sia.demo/sa/agent, athenz://instanceid/p/i)"},
		{"two SPIFFE IDs", c.leaf(t, key, "a", agentID, readerID), "", "has 2 URI SANs"},
		{"no URI", c.leaf(t, key, "a"), "", "has 0 URI SANs"},
		{"not SPIFFE", c.leaf(t, key, "a", "https://sia.demo/agent"), "", "is not a SPIFFE ID"},
		{"CA", sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature, URIs: c.leaf(t, key, "a", agentID).URIs}, c.inter, key.Public(), c.interKey), agentID, "is a CA certificate"},
		{"no digitalSignature", sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, KeyUsage: x509.KeyUsageKeyEncipherment,
			URIs: c.leaf(t, key, "a", agentID).URIs}, c.inter, key.Public(), c.interKey), agentID, "lacks digitalSignature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := svidID(tc.cert)
			if id.String() != tc.id {
				t.Errorf("id %q, want %q", id, tc.id)
			}
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("not an SVID: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Errorf("reason %v, want it to say %q", err, tc.bad)
			}
		})
	}
}

// Plain files (mode existing, another tool) are read by their names; a
// key beside a certificate that is not for it is an error, not served.
func TestLoadPairOfPlainFiles(t *testing.T) {
	f := newFixture(t)
	key := newKey(t)
	leaf := f.ca.leaf(t, key, "sia.demo.agent", agentID)
	bundle := []*x509.Certificate{f.ca.inter, f.ca.root}
	must(t, os.WriteFile(f.path("k.pem"), keyPEM(t, key), 0o600))
	must(t, os.WriteFile(f.path("c.pem"), certPEM(leaf), 0o644))
	c, err := loadPair(identityName, f.path("k.pem"), f.path("c.pem"), bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.chain) != 2 || !c.chain[1].Equal(f.ca.inter) {
		t.Errorf("chain of %d: want the leaf and the intermediate, not the root", len(c.chain))
	}
	must(t, os.WriteFile(f.path("k.pem"), keyPEM(t, newKey(t)), 0o600))
	if _, err := loadPair(identityName, f.path("k.pem"), f.path("c.pem"), bundle); !errors.Is(err, errMismatch) {
		t.Errorf("a mismatched pair: %v", err)
	}
	must(t, os.WriteFile(f.path("k.pem"), keyPEM(t, key), 0o600))
	if _, err := loadPair(identityName, f.path("k.pem"), f.path("c.pem"), []*x509.Certificate{newCA(t).root}); err == nil ||
		!strings.Contains(err.Error(), "does not chain to the CA bundle") {
		t.Errorf("a certificate of another CA: %v", err)
	}
	if _, err := loadPair(identityName, f.path("none.pem"), f.path("c.pem"), bundle); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing key: %v", err)
	}
}

// A bundle that goes away keeps the one read before; the identity that
// cannot be read keeps the last good one, and the record says why.
func TestProblemsKeepTheLastGood(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	r := start(t, f.config(""))
	snap, _ := r.p.src.current()
	must(t, os.Remove(f.path("..service.key.pem.data")))
	r.p.src.update()
	next, _ := r.p.src.current()
	if !next.identity.same(snap.identity) || next.problems[identityName] == nil {
		t.Errorf("identity %v, problem %v: want the last good one and the problem", next.identity, next.problems[identityName])
	}
	r.h.Host.WaitRecord(t, wait, func(rec sdk.StatusRecord) bool {
		return rec.Credential == "x509svid/identity" && rec.Outcome == "FILE_ERROR" && !rec.LastUpdate.IsZero() && rec.Expiry.Equal(f.id.NotAfter)
	})
}

func TestConfigProblems(t *testing.T) {
	cfg, err := sdk.ParseConfig("p.yaml", `socket: /run/`+strings.Repeat("x", 120)+`
mode: 0400
allow:
  uids: [-1]
files:
  key: ""
role_certs:
  targets: [sia.demo.reader, sia.demo:role.r, sia.demo:role.r]
  delimiter: "/"
trust_domains: ["spiffe://Bad Domain"]
poll_interval: 1ms
sds:
  default_svid_name: ROOTCA
  all_bundles_name: spiffe://x
max_connections: 0
`)
	must(t, err)
	_, err = loadConfig(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"p.yaml:1: socket: /run/x",
		`p.yaml:2: mode: 0400 does not let the agent's own user read and write the socket`,
		"p.yaml:4: allow.uids[0]: -1 is not a user ID",
		"p.yaml:6: files.key: required",
		`p.yaml:8: role_certs.targets[0]: "sia.demo.reader" is not <domain>:role.<role>`,
		"p.yaml:8: role_certs.targets[2]: sia.demo:role.r is listed twice",
		`p.yaml:9: role_certs.delimiter: "/" cannot separate`,
		`p.yaml:10: trust_domains[0]: "spiffe://Bad Domain" is not a SPIFFE trust domain`,
		"p.yaml:11: poll_interval: must be at least 10ms",
		`p.yaml:12: sds.default_bundle_name: "ROOTCA" is sds.default_svid_name already`,
		`p.yaml:14: sds.all_bundles_name: "spiffe://x" is a SPIFFE ID`,
		"p.yaml:15: max_connections: must be between 1 and 10000",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}

	cfg, err = sdk.ParseConfig("p.yaml", "mode: 0x1\n")
	must(t, err)
	if _, err := loadConfig(cfg); err == nil || !strings.Contains(err.Error(), `"0x1" is not a file mode`) {
		t.Errorf("a mode in hex: %v", err)
	}
}
