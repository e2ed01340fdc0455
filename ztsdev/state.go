package ztsdev

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
)

// state is one loaded config with its lookup maps and signers. Requests
// take a snapshot at their start, so a reload never changes the data a
// request is halfway through.
type state struct {
	cfg       *Config
	domains   map[string]*domainIndex
	providers map[string]*Provider
	faults    []*faultRule
	issuer    string // no trailing slash
	hostname  string // role token h=
	signers   *jwtSigners
}

// newState compiles cfg. listenHost and port locate the server for the
// default issuer; prevFaults carries fault budgets over a reload.
func newState(cfg *Config, km *keyMaterial, listenHost string, port int, prevFaults []*faultRule) (*state, error) {
	st := &state{
		cfg:       cfg,
		domains:   make(map[string]*domainIndex, len(cfg.Domains)),
		providers: make(map[string]*Provider, len(cfg.Providers)),
		faults:    compileFaults(cfg.Faults, prevFaults),
		hostname:  cmp.Or(cfg.Server.Hostname, listenHost),
	}
	for i := range cfg.Domains {
		st.domains[cfg.Domains[i].Name] = newDomainIndex(&cfg.Domains[i])
	}
	for i := range cfg.Providers {
		st.providers[cfg.Providers[i].Name] = &cfg.Providers[i]
	}
	st.issuer = cfg.Server.Issuer
	if st.issuer == "" {
		st.issuer = baseURL(st.hostname, port)
	}
	signers, err := newJWTSigners(km.signingKey, cfg.Server.KeyID)
	if err != nil {
		return nil, err
	}
	st.signers = signers
	return st, nil
}

func (st *state) isProxyUser(p string) bool {
	return slices.Contains(st.cfg.Server.AuthorizedProxyUsers, p)
}

// baseURL is the URL clients configure: https://host:port/zts/v1.
func baseURL(host string, port int) string {
	return fmt.Sprintf("https://%s/zts/v1", net.JoinHostPort(host, strconv.Itoa(port)))
}

// advertisedHost maps a wildcard listen host to one a client can dial.
func advertisedHost(listenHost string) string {
	switch listenHost {
	case "", "0.0.0.0", "::":
		return "localhost"
	}
	return listenHost
}
