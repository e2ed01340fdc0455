// Package cert is the cert provider: it keeps a workload's X.509 identity
// certificate and its role certificates fresh on disk, from ZTS.
//
// The identity comes from ZTS (instance register, then refresh over mTLS,
// with attestation data read from a file) or from a key and certificate
// managed elsewhere. Role certificates are requested concurrently, each
// written as soon as it arrives. Every file is replaced atomically; see
// files.go for what is guaranteed after a crash. docs/cert.md is the
// configuration reference.
package cert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/ztsclient"
	"github.com/sia-agent/sia-agent/sdk"
)

// Provider is the cert provider.
type Provider struct {
	s     *settings
	rt    *sdk.Runtime
	log   hclog.Logger
	idReq identityRequest
	sched schedule
	zts   *ztsclient.Client // nil when nothing needs ZTS (mode existing, no role certificates)
	group *sdk.Group

	// ident is the current identity; the TLS handshakes read it.
	ident atomic.Pointer[identity]
	// existing reads the identity in mode existing.
	existing *existingFiles

	// The rest belongs to whoever runs a round: Init, then the refresh
	// goroutine, then Shutdown.
	key        *privateKey // the identity key (mode register)
	caOnDisk   []byte      // what files.ca_cert holds
	creds      []*credential
	lastWait   time.Duration
	cancelLoop context.CancelCauseFunc
	started    bool

	// Init's first attempt in refresh mode, which may outlive Init: the
	// refresh loop begins once firstDone is closed.
	cancelFirst context.CancelCauseFunc
	firstDone   <-chan struct{}
}

// New returns a cert provider for sdk.Serve.
func New() *Provider { return &Provider{} }

var _ sdk.Provider = (*Provider)(nil)

// Validate checks the configuration without touching files or ZTS.
func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadSettings(cfg)
	return err
}

// Init takes over what is on disk and fetches what is missing or due. In
// init mode it retries (refresh.init_max_elapsed), and a credential it
// could not get fails Init: nothing runs afterwards to make up for it. In
// refresh mode it starts one attempt and waits for it at most
// refresh.first_attempt_timeout: an attempt still under way then goes on
// in the background, bounded by each call's timeout, so that the
// providers after this one are not held back by a ZTS that is down or
// slow, and a slow ZTS that does answer is not asked twice. A failure is
// only logged: the refresh loop keeps trying from Start on, and the
// status records say what is missing.
func (p *Provider) Init(ctx context.Context, rt *sdk.Runtime) error {
	if err := p.setUp(rt); err != nil {
		return err
	}
	p.removeTemps()
	if err := p.load(time.Now()); err != nil {
		return err
	}
	if rt.Mode == sdk.ModeInit {
		if err := p.round(ctx, p.retryPolicy(p.s.Refresh.InitMaxElapsed.Std()), true); err != nil {
			return fmt.Errorf("fetching certificates: %w", err)
		}
		return nil
	}
	if err := p.startFirstRound(ctx); err != nil {
		return fmt.Errorf("starting the first attempt at the certificates: %w", err)
	}
	wait := p.s.Refresh.FirstAttemptTimeout.Std()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-p.firstDone:
	case <-timer.C:
		p.log.Info("The first attempt at the certificates goes on in the background", "first_attempt_timeout", wait)
	case <-ctx.Done():
		p.log.Info("The first attempt at the certificates goes on in the background", "cause", context.Cause(ctx))
	}
	return nil
}

// startFirstRound starts Init's one attempt (refresh mode) in the group.
// Its context is cut loose from Init's, which ends when Init returns; it
// is cancelled by cancelFirst (the run cancelled, Shutdown) and by the
// group's Stop. firstDone is closed once the round ended.
func (p *Provider) startFirstRound(ctx context.Context) error {
	first, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	done := make(chan struct{})
	p.cancelFirst, p.firstDone = cancel, done
	err := p.group.GoContext(ctx, "cert first attempt", func(gctx context.Context) {
		defer close(done)
		defer cancel(nil)
		defer context.AfterFunc(gctx, func() { cancel(context.Cause(gctx)) })()
		err := p.round(first, sdk.RetryPolicy{MaxTries: 1}, true)
		switch {
		case err == nil:
		case first.Err() != nil: // Shutdown, or the run cancelled: nothing failed
			p.log.Info("The first attempt at the certificates was cut short", "cause", context.Cause(first).Error())
		default:
			p.log.Error(fmt.Sprintf("Failed to fetch certificates at init; the refresh loop will keep trying: %v", err))
		}
	})
	if err != nil {
		cancel(err)
		close(done)
	}
	return err
}

// setUp reads the settings and builds what the provider needs from them.
func (p *Provider) setUp(rt *sdk.Runtime) error {
	s, err := loadSettings(rt.Config)
	if err != nil {
		return err
	}
	p.s, p.rt, p.log = s, rt, rt.Logger
	p.idReq = newIdentityRequest(s)
	p.sched = schedule{
		interval:    s.Refresh.Interval.Std(),
		minInterval: s.Refresh.MinInterval.Std(),
		jitter:      s.Refresh.Jitter,
	}
	p.group = sdk.NewGroup(rt)
	m, err := newMetrics(rt.Metrics)
	if err != nil {
		return err
	}
	if s.Endpoint != "" {
		current := func() *tls.Certificate {
			if id := p.ident.Load(); id != nil {
				return id.tls
			}
			return nil
		}
		if p.zts, err = newZTSClient(s, current, m, rt.Circuits); err != nil {
			return err
		}
	}
	if s.existing {
		p.existing = &existingFiles{keyFile: s.keyFile, certFile: s.certFile, insecure: s.Key.AllowInsecurePermissions}
	}
	p.creds = []*credential{{name: identityName}}
	for _, t := range s.roles {
		p.creds = append(p.creds, &credential{name: roleCredentialName(t), role: &t})
	}
	return nil
}

// load takes over the credentials on disk that are still good, so that a
// restart does not fetch them again. A key file it must not use (others can
// read or replace it) is an error.
func (p *Provider) load(now time.Time) error {
	idc := p.creds[0]
	if p.s.existing {
		if id, _, err := p.existing.check(); err == nil {
			p.ident.Store(id)
			p.setLeaf(idc, id.leaf, now)
		}
	} else if err := p.loadIdentity(idc, now); err != nil {
		return err
	}
	id := p.ident.Load()
	for _, c := range p.creds[1:] {
		certPEM, err := p.readRole(c)
		if err != nil {
			return err
		}
		leaf, _, err := parseCertPEM(certPEM)
		if err != nil || id == nil || !id.key.matches(leaf) || !now.Before(leaf.NotAfter) ||
			checkSVIDForm(leaf, p.s.Identity.X509SVID) != nil {
			continue // requested anew
		}
		p.setLeaf(c, leaf, leaf.NotBefore)
	}
	return nil
}

// readRole reads a role certificate on disk, and its key file into
// c.keyPEM (role_certs.key_output). Only an unsafe key file is an error: a
// certificate that cannot be read is requested anew.
func (p *Provider) readRole(c *credential) ([]byte, error) {
	pair, ok := p.rolePair(*c.role)
	if !ok {
		certPEM, _ := os.ReadFile(p.s.roleCertFile(*c.role))
		return certPEM, nil
	}
	keyPEM, certPEM, err := pair.read(p.keyPolicy(pair))
	var unsafe *unsafeKeyError
	if errors.As(err, &unsafe) {
		return nil, err
	}
	c.keyPEM = keyPEM
	return certPEM, nil
}

// keyPolicy is which of pair's key files the provider takes over: those
// it would write.
func (p *Provider) keyPolicy(pair pairFiles) keyPolicy {
	return keyPolicy{insecure: p.s.Key.AllowInsecurePermissions, written: &pair.perm().key}
}

// loadIdentity takes over the identity key and certificate on disk (mode
// register), if they match each other and the configured instance. A key
// file it must not use is an error.
func (p *Provider) loadIdentity(c *credential, now time.Time) error {
	data, certData, err := p.idPair().read(p.keyPolicy(p.idPair()))
	var unsafe *unsafeKeyError
	switch {
	case errors.As(err, &unsafe):
		return err
	case err != nil:
		p.log.Warn("Cannot read the identity key; a new one will be made", "file", p.s.keyFile, "error", err)
		return nil
	case data == nil:
		return nil
	}
	key, err := parseKey(data)
	if err != nil {
		p.log.Warn("Cannot parse the identity key; a new one will be made", "file", p.s.keyFile, "error", err)
		return nil
	}
	p.key = key
	p.caOnDisk, _ = os.ReadFile(p.s.caCertFile)

	if certData == nil {
		return nil
	}
	leaf, certPEM, err := parseCertPEM(certData)
	switch {
	case err != nil:
		p.log.Warn("Cannot read the identity certificate; registering", "file", p.s.certFile, "error", err)
		return nil
	case !key.matches(leaf):
		p.log.Warn("The identity key and certificate on disk do not match; registering", "key", p.s.keyFile, "cert", p.s.certFile)
		return nil
	}
	if err := checkIdentityCert(leaf, p.idReq); err != nil {
		p.log.Info("The identity certificate on disk is not this instance's; registering", "file", p.s.certFile, "reason", err)
		return nil
	}
	if !now.Before(leaf.NotAfter) {
		p.log.Info("The identity certificate on disk expired; registering", "file", p.s.certFile, "expiry", leaf.NotAfter.UTC().Format(time.RFC3339))
		return nil
	}
	// Copies named since the pair was written get it now, not at the
	// next refresh.
	if err := p.writeCopies(key.pem, certData); err != nil {
		return err
	}
	p.ident.Store(newIdentity(key, leaf, certPEM))
	p.setLeaf(c, leaf, leaf.NotBefore)
	return nil
}

// Start starts the refresh loop. What Init fetched is not fetched again:
// the first tick comes when the earliest credential is due. The loop
// begins once Init's first attempt ended, so that two rounds never run at
// once; cancelling the run cancels that attempt too.
func (p *Provider) Start(ctx context.Context) error {
	loopCtx, cancel := context.WithCancelCause(ctx)
	p.cancelLoop = cancel
	p.started = true
	return p.group.Go(ctx, "cert refresh timer", func(stop <-chan struct{}) {
		if !p.awaitFirstRound(loopCtx, stop) {
			return
		}
		sdk.RefreshLoop(loopCtx, stop, p.nextWait, p.refresh, p.skipped)
	})
}

// awaitFirstRound waits until Init's first attempt ended, cancelling it
// once ctx is; false if stop was closed first.
func (p *Provider) awaitFirstRound(ctx context.Context, stop <-chan struct{}) bool {
	if p.firstDone == nil { // Init mode: Init's round ended with it
		return true
	}
	select {
	case <-p.firstDone:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		p.cancelFirst(context.Cause(ctx))
	}
	select {
	case <-p.firstDone:
		return true
	case <-stop:
		return false
	}
}

var errShutdown = errors.New("shutdown")

// Shutdown stops the refresh loop and Init's first attempt, cutting short
// a call or a retry under way, and waits for them; then, if configured,
// deletes the instance record.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.s == nil { // Init never ran
		return nil
	}
	if p.cancelLoop != nil {
		p.cancelLoop(errShutdown)
	}
	if p.cancelFirst != nil {
		p.cancelFirst(errShutdown)
	}
	p.group.Stop()
	if p.started && p.s.Identity.DeleteOnShutdown {
		if err := p.deleteInstance(ctx); err != nil {
			p.log.Warn("Failed to delete the instance record at ZTS", "error", err)
		} else {
			p.log.Info("Deleted the instance record at ZTS", "instance_id", p.idReq.InstanceID)
		}
	}
	p.zts.CloseIdle()
	return nil
}
