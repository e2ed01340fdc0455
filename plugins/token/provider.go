// Package token is the token provider: it keeps Athenz role tokens and
// access tokens fresh in a cache, for configured targets and on demand,
// writes the targets' tokens to files, and serves them on a local token
// server compatible with k8s-athenz-sia's header mode and REST API.
//
// docs/token.md is the user's guide: configuration, API compatibility and
// the deliberate differences from k8s-athenz-sia.
package token

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/plugins/internal/httpserver"
	"github.com/sia-agent/sia-agent/plugins/internal/ztsmetrics"
	"github.com/sia-agent/sia-agent/sdk"
)

// Provider is the token provider.
type Provider struct {
	cfg     Config
	log     hclog.Logger
	metrics *metrics
	zts     *ztsClient
	cache   *cache
	server  *server // nil when the server is off
	group   *sdk.Group
	targets []Key

	addr        net.Addr                // where the server listens, once started
	stopRefresh context.CancelCauseFunc // stops refresh retries at Shutdown
}

var _ sdk.Provider = (*Provider)(nil)

// errShutdown is the cause of the refresh context's cancellation at
// Shutdown.
var errShutdown = errors.New("shutting down")

// Validate checks the configuration.
func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := decodeConfig(cfg)
	return err
}

// Init loads the identity (in refresh mode, it may not exist yet: it is
// waited for), builds the cache and makes one attempt at every target's
// tokens (in init mode: fetches them with retries and writes their files,
// failing if any could not be had).
func (p *Provider) Init(ctx context.Context, rt *sdk.Runtime) error {
	cfg, err := decodeConfig(rt.Config)
	if err != nil {
		return err
	}
	p.cfg = cfg
	p.log = rt.Logger
	zm, err := ztsmetrics.New(rt.Metrics)
	if err != nil {
		return err
	}
	// In refresh mode the identity may be on its way: the cert provider
	// writes it once ZTS answers it. Init mode has nothing to wait with.
	if p.zts, err = newZTSClient(&p.cfg, zm, rt.Mode != sdk.ModeInit, rt.Circuits); err != nil {
		return err
	}
	if !p.zts.identity.Ready() {
		p.log.Warn("No identity yet: waiting for its files; tokens are fetched once they exist",
			"key_file", cfg.KeyFile, "cert_file", cfg.CertFile)
	}
	c := newCache(&p.cfg, p.log, p.zts, newTokenFiles(cfg.Files), rt.Host)
	p.cache = c
	if p.metrics, err = newMetrics(rt.Metrics, c); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	p.targets = p.cfg.targetKeys()
	for _, k := range p.targets {
		c.addTarget(k)
	}
	if cfg.Server.Enabled {
		if p.server, err = newServer(&p.cfg, c, p.log, p.metrics); err != nil {
			return err
		}
	}
	p.group = sdk.NewGroup(rt)

	if rt.Mode == sdk.ModeInit {
		if c.files == nil {
			p.log.Info("No token files configured: nothing to do in init mode")
			return nil
		}
		if err := c.fetchAll(ctx, p.targets); err != nil {
			return fmt.Errorf("fetching the tokens to write to files: %w", err)
		}
		return nil
	}
	// One attempt, waited for a moment: a ZTS that is down or slow must
	// not hold the pipeline back (the server answers 503 with the reason
	// meanwhile), and the refresh loop retries what failed.
	first, cancel := context.WithTimeout(ctx, cfg.Refresh.FirstAttemptTimeout.Std())
	defer cancel()
	c.prefetch(first, p.targets)
	return nil
}

// Start starts the token server, the refresh timer and the memory reporter,
// in the order of the specification. Start is not cut short when ctx is
// cancelled: its goroutines learn of it.
func (p *Provider) Start(ctx context.Context) error {
	if p.server != nil {
		srv, err := httpserver.Start(ctx, p.group, "token server", p.server.options())
		if srv != nil {
			p.addr = srv.Addr()
		}
		if err != nil {
			return err
		}
	}

	refreshCtx, cancel := context.WithCancelCause(ctx)
	p.stopRefresh = cancel
	if err := p.group.Go(ctx, "token refresh timer", func(stop <-chan struct{}) { newRefresher(p.cache, p.log).loop(refreshCtx, stop) }); err != nil {
		return err
	}
	return p.group.Go(ctx, "memory reporter", p.memoryReporter)
}

// Shutdown stops the refresh timer and the memory reporter at once, and
// the token server after its shutdown delay, gracefully; it returns once
// every goroutine has.
func (p *Provider) Shutdown(context.Context) error {
	if p.group == nil { // Init did not get that far
		if p.zts != nil {
			p.zts.close()
		}
		return nil
	}
	if p.stopRefresh != nil {
		p.stopRefresh(errShutdown)
	}
	p.group.Stop()
	p.cache.close()
	p.zts.close()
	return nil
}

// Addr is where the token server listens, once Start has run.
func (p *Provider) Addr() net.Addr { return p.addr }

// targetKeys returns the cache keys of the targets' tokens, under the
// defaults header mode and REST requests without expiry use, so that they
// are served from the preloaded entries.
func (c *Config) targetKeys() []Key {
	expiry := int32(c.TokenExpiry.Std() / time.Second) //nolint:gosec // G115: Config.check bounds it to an int32
	var keys []Key
	for _, t := range c.Targets {
		domain, roles, _ := canonical(t.Domain, strings.Join(t.Roles, ",")) // validated
		if c.wants(typeAccessToken) {
			keys = append(keys, Key{Kind: accessToken, Domain: domain, Roles: roles, MaxExpiry: expiry})
		}
		if c.wants(typeRoleToken) {
			keys = append(keys, Key{Kind: roleToken, Domain: domain, Roles: roles, MinExpiry: expiry})
		}
	}
	return keys
}
