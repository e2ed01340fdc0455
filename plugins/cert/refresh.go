package cert

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// Credential names in status records.
const identityName = "identity"

func roleCredentialName(t roleTarget) string { return "rolecert/" + t.String() }

// credential is the state of one certificate the provider keeps fresh.
type credential struct {
	name string
	role *roleTarget // nil for the identity

	leaf       *x509.Certificate // the current certificate; nil if none
	lastUpdate time.Time         // of the current certificate
	scheduled  time.Time         // when due was set
	due        time.Time         // when the next update is due
	keyPEM     []byte            // role: what its key file holds (key_output)

	// The update under way.
	reason sdk.Reason
	err    error
	rpc    time.Duration
}

// schedule decides when credentials are due.
type schedule struct {
	interval    time.Duration // 0: half the remaining lifetime
	minInterval time.Duration
	jitter      float64
}

// nextDue is when a credential updated (or tried) at now and expiring at
// notAfter is due again: after the configured interval or half its
// remaining lifetime, whichever comes first, but not sooner than the
// minimum interval. A credential the provider does not have (zero
// notAfter) is tried again after the minimum interval.
func (s schedule) nextDue(now, notAfter time.Time) time.Time {
	d := notAfter.Sub(now) / 2
	if s.interval > 0 && s.interval < d {
		d = s.interval
	}
	return now.Add(max(d, s.minInterval))
}

// isDue reports whether c should be updated in a refresh at now. Waits are
// shortened by jitter and never shorter than the minimum interval, so
// whatever falls due before the next refresh could come is due now: the
// credentials that were updated together stay together.
func (s schedule) isDue(c *credential, now time.Time) bool {
	slack := s.minInterval + time.Duration(s.jitter*float64(c.due.Sub(c.scheduled)))
	return !c.due.After(now.Add(slack))
}

// wait is how long to wait, from now, for the earliest due credential.
func (s schedule) wait(creds []*credential, now time.Time) time.Duration {
	earliest := creds[0].due
	for _, c := range creds[1:] {
		if c.due.Before(earliest) {
			earliest = c.due
		}
	}
	return max(sdk.Jitter(earliest.Sub(now), s.jitter), s.minInterval)
}

// setLeaf makes leaf c's current certificate, updated at now.
func (p *Provider) setLeaf(c *credential, leaf *x509.Certificate, now time.Time) {
	c.leaf, c.lastUpdate = leaf, now
	p.setDue(c, now)
}

func (p *Provider) setDue(c *credential, now time.Time) {
	var notAfter time.Time
	if c.leaf != nil {
		notAfter = c.leaf.NotAfter
	}
	c.scheduled, c.due = now, p.sched.nextDue(now, notAfter)
}

// dueReason says whether c needs an update at now, and why.
func (p *Provider) dueReason(c *credential, now time.Time) (sdk.Reason, bool) {
	id := p.ident.Load()
	switch {
	case c.leaf == nil:
		return sdk.ReasonNew, true
	case c.role == nil && p.s.existing:
		// Cheap (two stats): done at every refresh, so that a replaced
		// pair is picked up before the role certificates are requested.
		return sdk.ReasonExpires, true
	case c.role == nil && !p.s.Key.Rotate && (p.key == nil || !p.key.fits(p.s.Key)):
		return sdk.ReasonParamsChange, true
	case c.role != nil && (id == nil || !id.key.matches(c.leaf)):
		return sdk.ReasonParamsChange, true
	case c.role != nil && p.s.RoleCerts.KeyOutput && !id.key.samePEM(c.keyPEM):
		return sdk.ReasonParamsChange, true
	case p.sched.isDue(c, now):
		return sdk.ReasonExpires, true
	}
	return sdk.ReasonIsGood, false
}

// round updates every credential due now, retrying the ones that fail
// with policy until they succeed, the policy gives up or ctx is
// cancelled. Each credential's outcome is reported as a status record;
// with reportGood, so are the ones not due. It returns the error of the
// last attempt, if any failed.
func (p *Provider) round(ctx context.Context, policy sdk.RetryPolicy, reportGood bool) error {
	start := time.Now()
	pending := p.duePending(ctx, start, reportGood)
	if len(pending) == 0 {
		return nil
	}
	op := func(ctx context.Context) error { return p.attempt(ctx, pending, start) }
	onRetry := func(err error, wait time.Duration) {
		p.log.Error(fmt.Sprintf("Failed to refresh certificates: %v. Retrying in %v", err, wait))
	}
	err := sdk.Retry(ctx, policy, op, onRetry)

	now := time.Now()
	for _, c := range p.creds {
		if pending[c] {
			if c.err == nil { // stopped before its turn
				c.err = err
			}
			p.setDue(c, now)
			p.report(ctx, c, start)
		}
	}
	return err
}

// duePending returns the credentials due at start, their update begun;
// with reportGood, it reports the others as good.
func (p *Provider) duePending(ctx context.Context, start time.Time, reportGood bool) map[*credential]bool {
	pending := make(map[*credential]bool)
	for _, c := range p.creds {
		reason, due := p.dueReason(c, start)
		if !due {
			if reportGood {
				c.reason, c.err, c.rpc = sdk.ReasonIsGood, nil, 0
				p.report(ctx, c, start)
			}
			continue
		}
		c.reason, c.err, c.rpc = reason, nil, 0
		pending[c] = true
	}
	return pending
}

// attempt is one attempt of a round at the pending credentials: the
// identity first, then the role certificates (all of them, if the
// identity key changed). What succeeds leaves pending and is reported.
func (p *Provider) attempt(ctx context.Context, pending map[*credential]bool, start time.Time) error {
	var identity *credential
	var roles []*credential
	for _, c := range p.creds {
		switch {
		case !pending[c]:
		case c.role == nil:
			identity = c
		default:
			roles = append(roles, c)
		}
	}
	var errs []error
	if identity != nil {
		keyChanged, err := p.attemptIdentity(ctx, identity, pending, start)
		if err != nil {
			errs = append(errs, err)
		}
		if keyChanged {
			roles = p.followKey(pending, roles)
		}
	}
	failed := p.updateRoles(ctx, roles, p.ident.Load(), func(c *credential) {
		delete(pending, c)
		p.setLeaf(c, c.leaf, time.Now())
		p.report(ctx, c, start)
	})
	for _, c := range failed {
		errs = append(errs, c.err)
	}
	return joinErrors(errs)
}

// attemptIdentity updates the identity; once it succeeds it leaves
// pending and is reported.
func (p *Provider) attemptIdentity(ctx context.Context, c *credential, pending map[*credential]bool, start time.Time) (keyChanged bool, err error) {
	keyChanged, err = p.updateIdentityCredential(ctx, c)
	if err != nil {
		c.err = err
		return keyChanged, err
	}
	delete(pending, c)
	if c.reason == sdk.ReasonIsGood {
		p.setDue(c, time.Now())
	} else {
		p.setLeaf(c, c.leaf, time.Now())
	}
	p.report(ctx, c, start)
	return keyChanged, nil
}

// followKey makes every role certificate pending after the identity key
// changed: role certificates are for the identity key, and all of them
// must follow it. It returns roles with those added.
func (p *Provider) followKey(pending map[*credential]bool, roles []*credential) []*credential {
	for _, c := range p.creds {
		if c.role == nil {
			continue
		}
		if c.leaf != nil { // the one it has is for the old key
			c.reason = sdk.ReasonParamsChange
		}
		if !pending[c] {
			c.err, c.rpc = nil, 0
			pending[c] = true
			roles = append(roles, c)
		}
	}
	return roles
}

// updateIdentityCredential updates the identity by the configured mode.
func (p *Provider) updateIdentityCredential(ctx context.Context, c *credential) (keyChanged bool, err error) {
	if p.s.existing {
		return p.checkExisting(c)
	}
	return p.updateIdentity(ctx, c)
}

// report hands the agent the status record of c's update.
func (p *Provider) report(ctx context.Context, c *credential, started time.Time) {
	rec := sdk.StatusRecord{
		Credential:  c.name,
		Kind:        "x509",
		Reason:      c.reason,
		Outcome:     sdk.Outcome(c.err),
		Err:         c.err,
		Started:     started,
		Duration:    time.Since(started),
		RPCDuration: c.rpc,
		LastUpdate:  c.lastUpdate,
		NextUpdate:  c.due,
	}
	if c.leaf != nil {
		rec.Expiry = c.leaf.NotAfter
	}
	if c.err == nil && c.reason != sdk.ReasonIsGood {
		rec.Files = p.filesOf(c)
	}
	// The record matters most when things go wrong, shutdown included.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.rt.Host.ReportStatus(ctx, rec); err != nil {
		p.log.Warn("Could not report status to the agent", "credential", c.name, "error", err)
	}
}

// refresh is one tick of the refresh loop.
func (p *Provider) refresh(ctx context.Context) {
	maxElapsed := p.s.Refresh.RetryMaxElapsed.Std()
	if maxElapsed == 0 {
		maxElapsed = max(p.lastWait/4, p.s.Refresh.RetryInitial.Std())
	}
	if err := p.round(ctx, p.retryPolicy(maxElapsed), false); err != nil {
		p.log.Error(fmt.Sprintf("Failed to refresh certificates after multiple retries: %v", err))
	}
}

func (p *Provider) retryPolicy(maxElapsed time.Duration) sdk.RetryPolicy {
	return sdk.RetryPolicy{
		Initial:    p.s.Refresh.RetryInitial.Std(),
		Max:        p.s.Refresh.RetryMax.Std(),
		MaxElapsed: maxElapsed,
	}
}

// nextWait is how long the refresh loop waits before its next tick.
func (p *Provider) nextWait() time.Duration {
	p.lastWait = p.sched.wait(p.creds, time.Now())
	p.log.Info(fmt.Sprintf("Will refresh %s within %v", p.what(), p.lastWait.Round(time.Millisecond)))
	return p.lastWait
}

// skipped is a tick that fired after the run context was cancelled.
func (p *Provider) skipped() {
	p.log.Info(fmt.Sprintf("Skipped to refresh %s", p.what()))
}

// what names what the provider refreshes, as k8s-athenz-sia's log does.
func (p *Provider) what() string {
	targets := make([]string, len(p.s.roles))
	for i, t := range p.s.roles {
		targets[i] = t.String()
	}
	return fmt.Sprintf("key[%s], cert[%s] and certificates for roles[%v]", p.s.keyFile, p.s.certFile, targets)
}
