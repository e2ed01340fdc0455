package spiffe

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Credential names within the provider, as its status records and log
// lines name them.
const (
	identityName = "identity"
	bundleName   = "bundle"
)

// snapshot is what the APIs serve at one moment: immutable once made, so
// that every stream reads it without locks.
type snapshot struct {
	identity *credential   // nil until it was read
	roles    []*credential // those read, in configuration order
	bundle   []*x509.Certificate
	// domains are the trust domains the bundle is served for: those of
	// the SPIFFE IDs, then those configured; sorted.
	domains []spiffeid.TrustDomain
	// problems say, by credential name, why its files could not be read
	// the last time; what was read before is served meanwhile.
	problems map[string]error
	// version names the content, the same across restarts: the SDS
	// version, and what streams compare.
	version string
}

// read makes the snapshot of the files now. A credential that cannot be
// read keeps what prev had, if anything, so that a role certificate
// being replaced after a new identity key is served in its last good form.
func read(s *settings, prev *snapshot) *snapshot {
	if prev == nil {
		prev = &snapshot{}
	}
	next := &snapshot{problems: map[string]error{}}
	bundle, err := loadBundle(s.caCert)
	if err != nil {
		next.problems[bundleName] = err
		bundle = prev.bundle
	}
	next.bundle = bundle
	if bundle == nil {
		next.problems[identityName] = fmt.Errorf("no CA bundle to check it against: %w", err)
		next.finish(s)
		return next
	}
	next.identity, err = loadPair(identityName, s.key, s.cert, bundle)
	if err != nil {
		next.problems[identityName] = err
		next.identity = prev.identity
	}
	for _, r := range s.roles {
		c, err := readRole(r, next.identity, bundle)
		if err != nil {
			next.problems[r.name] = err
			c = prev.role(r.name)
		}
		if c != nil {
			next.roles = append(next.roles, c)
		}
	}
	next.finish(s)
	return next
}

// readRole reads a role certificate: with its own key file when the cert
// provider writes one (role_certs.key_output), else for the identity key.
func readRole(r role, identity *credential, bundle []*x509.Certificate) (*credential, error) {
	if _, err := os.Lstat(r.key); err == nil {
		return loadPair(r.name, r.key, r.cert, bundle)
	}
	if identity == nil {
		return nil, fmt.Errorf("%s: no identity key to read it with", r.cert)
	}
	return loadCert(r.name, r.cert, identity.key, bundle)
}

func (s *snapshot) role(name string) *credential {
	i := slices.IndexFunc(s.roles, func(c *credential) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return s.roles[i]
}

// finish derives the trust domains and the version.
func (s *snapshot) finish(cfg *settings) {
	for _, c := range s.all() {
		if !c.id.IsZero() {
			s.domains = append(s.domains, c.id.TrustDomain())
		}
	}
	s.domains = append(s.domains, cfg.domains...)
	slices.SortFunc(s.domains, func(a, b spiffeid.TrustDomain) int { return cmp.Compare(a.Name(), b.Name()) })
	s.domains = slices.Compact(s.domains)

	h := sha256.New()
	for _, c := range s.all() {
		fmt.Fprintf(h, "%s\x00%d\x00", c.name, len(c.chain))
		for _, cert := range c.chain {
			h.Write(cert.Raw)
		}
		h.Write(c.keyDER)
	}
	for _, c := range s.bundle {
		h.Write(c.Raw)
	}
	for _, td := range s.domains {
		fmt.Fprintf(h, "\x00%s", td.Name())
	}
	s.version = hex.EncodeToString(h.Sum(nil)[:8])
}

// all is the identity, if read, then the roles.
func (s *snapshot) all() []*credential {
	var all []*credential
	if s.identity != nil {
		all = append(all, s.identity)
	}
	return append(all, s.roles...)
}

// svids are the X.509-SVIDs to serve at now: the identity first, so that
// a client taking the first (go-spiffe's default) gets it, then the roles;
// none that expired.
func (s *snapshot) svids(now time.Time) []*credential {
	var svids []*credential
	for _, c := range s.all() {
		if c.notSVID == nil && now.Before(c.leaf().NotAfter) {
			svids = append(svids, c)
		}
	}
	return svids
}

// errNotYet is the reason there is nothing to serve when the files are not
// there yet: a stream waits for them rather than fail.
var errNotYet = errors.New("not written yet")

// svidsProblem says why svids is empty: errNotYet while the files are not
// there, else what is wrong with them.
func (s *snapshot) svidsProblem(now time.Time) error {
	var errs []error
	for _, name := range []string{bundleName, identityName} {
		if err := s.problems[name]; err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for _, c := range s.all() {
		switch {
		case c.notSVID != nil:
			errs = append(errs, fmt.Errorf("the %s certificate is not an X.509-SVID: %w", c.name, c.notSVID))
		case !now.Before(c.leaf().NotAfter):
			errs = append(errs, fmt.Errorf("the %s certificate expired at %s", c.name, c.leaf().NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if len(errs) == 0 {
		return errNotYet
	}
	return errors.Join(errs...)
}

// bundleDER is the bundle as the Workload API carries it.
func (s *snapshot) bundleDER() []byte {
	var b []byte
	for _, c := range s.bundle {
		b = append(b, c.Raw...)
	}
	return b
}
