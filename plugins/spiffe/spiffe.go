// Package spiffe is the spiffe provider: it serves the Athenz identity to
// SPIFFE-aware workloads and to Envoy on a Unix socket, in the two APIs
// they speak.
//
//   - The X.509 part of the SPIFFE Workload API: FetchX509SVID (the
//     identity certificate with its key and chain, then each configured
//     role certificate) and FetchX509Bundles, with a new response on every
//     stream each time the certificates change.
//   - Envoy's Secret Discovery Service (SDS v3): the same certificates as
//     TLS certificates, and the CA bundle as validation contexts.
//
// It serves what the cert provider keeps on disk, read the way the cert
// provider's files promise a reader one whole generation (docs/cert.md),
// and polls them for changes. Every call is checked: the caller's UID and
// GID, from the kernel (SO_PEERCRED), against an allow list, and the
// Workload API's security header. JWT-SVIDs are not served;
// docs/spiffe.md says why, and is the configuration reference.
package spiffe

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// serverName is what the log calls the server.
const serverName = "SPIFFE Workload API and SDS server"

// Provider is the spiffe provider.
type Provider struct {
	s     settings
	log   hclog.Logger
	group *sdk.Group
	m     *metrics
	src   *source
	srv   *server
}

var _ sdk.Provider = (*Provider)(nil)

func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := loadConfig(cfg)
	return err
}

// Init registers the metrics and reads the certificates once, reporting
// what it found; files the cert provider has not written yet are not an
// error: they are served once they are there.
func (p *Provider) Init(_ context.Context, rt *sdk.Runtime) error {
	cfg, err := loadConfig(rt.Config)
	if err != nil {
		return err
	}
	p.s, p.log, p.group = newSettings(cfg), rt.Logger, sdk.NewGroup(rt)
	if p.m, err = newMetrics(rt.Metrics); err != nil {
		return err
	}
	p.src = newSource(&p.s, p.log, rt.Host)
	p.src.update()
	p.warnMode()
	return nil
}

// warnMode says when the socket's mode keeps out callers the allow list
// admits: connecting to a Unix socket needs write permission.
func (p *Provider) warnMode() {
	others := len(p.s.Allow.GIDs) > 0 || len(p.s.Allow.UIDs) > 1 ||
		(len(p.s.Allow.UIDs) == 1 && p.s.Allow.UIDs[0] != p.s.self)
	if others && p.s.Mode&0o022 == 0 {
		p.log.Warn(fmt.Sprintf("The socket's mode %s lets only its owner connect, but the allow list admits others: widen it (e.g. \"0666\"; the allow list still checks every caller)", p.s.Mode),
			"socket", p.s.socket)
	}
}

// Start binds the socket, creates the "spiffe server" goroutine, returns
// once the server answers, and creates the "spiffe file watcher"
// goroutine.
func (p *Provider) Start(ctx context.Context) error {
	ln, err := listen(p.s.socket, os.FileMode(p.s.Mode))
	if err != nil {
		return fmt.Errorf("starting the %s: %w", serverName, err)
	}
	srv, err := newServer(&p.s, p.src, p.log, p.m)
	if err != nil {
		_ = ln.Close()
		return err
	}
	limited := newLimitListener(ln, p.s.MaxConnections,
		func(d int) { p.m.connections.Add(float64(d)) },
		func() {
			p.m.refusals.WithLabelValues(refusedConnLimit).Inc()
			srv.gate.log.Warn("Refused a connection: the socket has max_connections open", "max_connections", p.s.MaxConnections)
		})
	if err := p.group.Go(ctx, "spiffe server", func(<-chan struct{}) { srv.serve(limited) }); err != nil {
		_ = ln.Close()
		return err
	}
	p.srv = srv
	p.log.Info(fmt.Sprintf("Starting %s[%s]", serverName, p.s.socket), "mode", p.s.Mode.String())
	if err := waitReady(p.s.socket); err != nil {
		return err
	}
	return p.group.Go(ctx, "spiffe file watcher", p.src.poll)
}

// Shutdown ends every stream (clients get Unavailable, and retry), drains
// the server, removes the socket and waits for the goroutines. It is safe
// without Init or Start.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.group == nil {
		return nil
	}
	if p.srv != nil {
		p.srv.shutdown(ctx)
		p.log.Info("Stopped " + serverName)
	}
	p.group.Stop()
	return nil
}
