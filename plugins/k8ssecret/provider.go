// Package k8ssecret is the k8s-secret provider: a backup of the identity
// in a Kubernetes Secret, as k8s-athenz-sia's BACKUP and CERT_SECRET kept
// it. With read, Init restores the identity files from the Secret when
// they are missing or expired, so that a pod that starts while ZTS is
// down still has a certificate for its peers; with write, every new
// identity the cert provider writes is applied to the Secret.
//
// The Secret itself is a Store: package kube implements it with
// Kubernetes' client-go, whose package initialisation every process that
// links it pays for. So this package links none of it (convert builds
// its Config into sia-agent), and the provider runs as a plugin binary of
// its own, sia-plugin-k8s-secret, which gives it kube.Connect.
package k8ssecret

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// Store is the Secret that holds the backup.
type Store interface {
	// Read returns the identity the Secret holds; none, and no error, when
	// there is no Secret or it holds none.
	Read(ctx context.Context) (keyPEM, certPEM []byte, err error)
	// Write makes the Secret hold the identity.
	Write(ctx context.Context, keyPEM, certPEM []byte) error
	// String names the Secret, namespace/name, for logs and the status
	// report.
	String() string
	// Close releases the connections to the API server.
	Close()
}

// errNoBackup is a Secret that holds no identity to restore.
var errNoBackup = errors.New("no backup")

// Provider is the k8s-secret provider.
type Provider struct {
	// Connect returns the Secret cfg names (kube.Connect).
	Connect func(cfg Config) (Store, error)

	cfg         Config
	read, write bool
	log         hclog.Logger
	host        sdk.Host
	group       *sdk.Group
	store       Store
	metrics     *metrics

	// What the Secret holds, as far as the provider knows, and the files
	// as last looked at; only the watch loop, then Shutdown, change them.
	applied    [sha256.Size]byte
	hasApplied bool
	lastStamp  stamps
	lastWrite  time.Time
}

// credential names the backup in the status report.
func (p *Provider) credential() string { return "secret/" + p.store.String() }

func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadConfig(cfg)
	return err
}

// Init connects to the API server and, with read, restores the identity
// files from the Secret if they need it.
func (p *Provider) Init(ctx context.Context, rt *sdk.Runtime) error {
	cfg, err := loadConfig(rt.Config)
	if err != nil {
		return err
	}
	p.cfg, p.log, p.host, p.group = cfg, rt.Logger, rt.Host, sdk.NewGroup(rt)
	p.read, p.write, _ = parseMode(cfg.Mode)
	if p.metrics, err = newMetrics(rt.Metrics); err != nil {
		return err
	}
	if p.Connect == nil {
		return errors.New("the provider has no way to reach Kubernetes: it runs as sia-plugin-k8s-secret")
	}
	if p.store, err = p.Connect(cfg); err != nil {
		return fmt.Errorf("connecting to Kubernetes: %w", err)
	}
	if p.read {
		return p.restore(ctx, time.Now())
	}
	return nil
}

// Start starts the "k8s secret backup" goroutine, with write.
func (p *Provider) Start(ctx context.Context) error {
	if !p.write {
		return nil
	}
	return p.group.Go(ctx, "k8s secret backup", func(stop <-chan struct{}) { p.watch(ctx, stop) })
}

// Shutdown stops the backup goroutine; then, with write, backs up an
// identity written since it last looked (in init mode, the one the cert
// provider's Init got). It is safe without Init or Start.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.group == nil {
		return nil
	}
	p.group.Stop()
	if p.store == nil {
		return nil
	}
	if p.write {
		if err := p.sync(ctx, time.Now()); err != nil {
			p.log.Warn("Failed to back up the identity at shutdown", "secret", p.store.String(), "error", err)
		}
	}
	p.store.Close()
	return nil
}

// watch looks at the identity files every interval (the first time at
// once) and backs up a new identity; a write that failed is retried at
// interval, then doubling up to retry_max. Once the run is cancelled it
// backs up nothing more: Shutdown does the last.
func (p *Provider) watch(ctx context.Context, stop <-chan struct{}) {
	interval := p.cfg.Interval.Std()
	var wait time.Duration // until the next look
	backoff := interval    // the wait after the next failure
	next := func() time.Duration { return sdk.Jitter(wait, 0.1) }
	sdk.RefreshLoop(ctx, stop, next, func(ctx context.Context) {
		wait = interval
		if err := p.sync(ctx, time.Now()); err != nil {
			wait, backoff = backoff, min(2*backoff, p.cfg.RetryMax.Std())
			p.log.Warn("Failed to back up the identity", "secret", p.store.String(), "error", err,
				"retry_in", wait.String())
		} else {
			backoff = interval
		}
	}, nil)
}

// identity is a key and its certificate, as their files hold them.
type identity struct {
	keyPEM, certPEM []byte
	leaf            *x509.Certificate
}

func parseIdentity(keyPEM, certPEM []byte) (*identity, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("not a key and its certificate: %w", err)
	}
	return &identity{keyPEM: keyPEM, certPEM: certPEM, leaf: pair.Leaf}, nil
}

func (id *identity) digest() [sha256.Size]byte {
	return sha256.Sum256(bytes.Join([][]byte{id.keyPEM, id.certPEM}, []byte{0}))
}

// logFields are what the log says of an identity: never its key.
func (id *identity) logFields() []any {
	return []any{"subject", id.leaf.Subject.CommonName, "serial", id.leaf.SerialNumber.String(),
		"not_after", id.leaf.NotAfter.UTC().Format(time.RFC3339)}
}

// readFiles reads the identity files.
func (p *Provider) readFiles() (*identity, error) {
	keyPEM, err := os.ReadFile(p.cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(p.cfg.CertFile)
	if err != nil {
		return nil, err
	}
	return parseIdentity(keyPEM, certPEM)
}

// restore writes the Secret's identity to the files unless they hold one
// that has not expired. No backup, an API server that does not answer or
// a backup that is no good is logged, and the pipeline goes on: the cert
// provider asks ZTS. Only failing to write the files is an error.
func (p *Provider) restore(ctx context.Context, now time.Time) error {
	if id, err := p.readFiles(); err == nil && now.Before(id.leaf.NotAfter) {
		p.log.Info("The identity files hold an identity: nothing to restore", append([]any{"file", p.cfg.CertFile}, id.logFields()...)...)
		return nil
	}
	id, err := p.readBackup(ctx, now)
	switch {
	case err == nil:
		return p.restoreFiles(id)
	case errors.Is(err, errNoBackup):
		p.metrics.ops.WithLabelValues(opRead, resultNone).Inc()
		p.log.Info("No identity to restore from the backup", "error", err)
	default:
		p.metrics.ops.WithLabelValues(opRead, resultFailure).Inc()
		p.log.Warn("Cannot restore the identity from the backup", "error", err)
	}
	return nil
}

// readBackup returns the identity the Secret holds, if it has not expired
// at now; errNoBackup when there is none to restore.
func (p *Provider) readBackup(ctx context.Context, now time.Time) (*identity, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.Std())
	defer cancel()
	keyPEM, certPEM, err := p.store.Read(callCtx)
	switch {
	case err != nil:
		return nil, err
	case len(keyPEM) == 0 || len(certPEM) == 0:
		return nil, fmt.Errorf("secret %s does not exist or holds no tls.key and tls.crt: %w", p.store, errNoBackup)
	}
	id, err := parseIdentity(keyPEM, certPEM)
	if err != nil {
		return nil, err
	}
	if !now.Before(id.leaf.NotAfter) {
		return nil, fmt.Errorf("the backup expired at %s: %w", id.leaf.NotAfter.UTC().Format(time.RFC3339), errNoBackup)
	}
	return id, nil
}

// restoreFiles writes id to the identity files, the key first, each
// atomically.
func (p *Provider) restoreFiles(id *identity) error {
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{p.cfg.KeyFile, id.keyPEM, 0o600}, {p.cfg.CertFile, id.certPEM, 0o644}} {
		if err := os.MkdirAll(filepath.Dir(f.path), dirMode); err != nil {
			return fmt.Errorf("restoring the identity: %w", err)
		}
		if err := sdk.WriteFileAtomic(f.path, f.data, f.perm); err != nil {
			return fmt.Errorf("restoring the identity: %w", err)
		}
	}
	p.applied, p.hasApplied = id.digest(), true
	p.metrics.ops.WithLabelValues(opRead, resultSuccess).Inc()
	p.log.Info("Restored the identity from the backup",
		append([]any{"secret", p.store.String(), "file", p.cfg.CertFile}, id.logFields()...)...)
	return nil
}

// sync backs up the identity files if they changed since it last looked
// and hold an identity the Secret does not: two stats, and a read when
// one changed.
func (p *Provider) sync(ctx context.Context, now time.Time) error {
	st, err := stampFiles(p.cfg.KeyFile, p.cfg.CertFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // no identity yet
	case err != nil:
		return fmt.Errorf("looking at the identity files: %w", err)
	case st == p.lastStamp:
		return nil // nothing new
	}
	id, err := p.readFiles()
	if err != nil {
		// Caught between the key's write and the certificate's: looked at
		// again next time, the stamp not taken.
		p.log.Debug("The identity files are not a pair yet", "error", err)
		return nil
	}
	digest := id.digest()
	if !now.Before(id.leaf.NotAfter) || (p.hasApplied && digest == p.applied) {
		p.lastStamp = st
		return nil
	}
	if err := p.backUp(ctx, id, digest); err != nil {
		return err
	}
	p.lastStamp = st
	return nil
}

// backUp applies id, whose digest it is, to the Secret and reports the
// outcome.
func (p *Provider) backUp(ctx context.Context, id *identity, digest [sha256.Size]byte) error {
	start := time.Now()
	reason := sdk.ReasonParamsChange
	if !p.hasApplied {
		reason = sdk.ReasonNew
	}
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.Std())
	err := p.store.Write(callCtx, id.keyPEM, id.certPEM)
	cancel()
	took := time.Since(start) // all of it the call
	rec := sdk.StatusRecord{
		Credential: p.credential(), Kind: "k8s-secret", Reason: reason, Err: err,
		Started: start, Duration: took, RPCDuration: took,
		LastUpdate: p.lastWrite, Expiry: id.leaf.NotAfter, Optional: true,
	}
	if err != nil {
		p.metrics.ops.WithLabelValues(opWrite, resultFailure).Inc()
	} else {
		p.applied, p.hasApplied, p.lastWrite = digest, true, time.Now()
		rec.LastUpdate = p.lastWrite
		p.metrics.ops.WithLabelValues(opWrite, resultSuccess).Inc()
		p.metrics.lastWrite.Set(float64(p.lastWrite.Unix()))
		p.log.Info("Backed up the identity", append([]any{"secret", p.store.String()}, id.logFields()...)...)
	}
	if rerr := p.host.ReportStatus(context.WithoutCancel(ctx), rec); rerr != nil {
		p.log.Debug("Could not report the backup's status", "error", rerr)
	}
	return err
}

// dirMode is that of a directory the provider creates for the identity
// files, as the cert provider does: its readers pass through.
const dirMode os.FileMode = 0o755

// stamps tell whether the identity files changed: the cert provider
// replaces them by rename, which changes their modification time.
type stamps struct {
	keyMod, certMod   time.Time
	keySize, certSize int64
}

func stampFiles(keyFile, certFile string) (stamps, error) {
	k, err := os.Stat(keyFile)
	if err != nil {
		return stamps{}, err
	}
	c, err := os.Stat(certFile)
	if err != nil {
		return stamps{}, err
	}
	return stamps{keyMod: k.ModTime(), certMod: c.ModTime(), keySize: k.Size(), certSize: c.Size()}, nil
}
