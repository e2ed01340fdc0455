package token

import (
	"context"
	"net/http"
	"time"
)

// The request headers of header mode.
const (
	domainHeader = "X-Athenz-Domain"
	roleHeader   = "X-Athenz-Role"
)

// headerRequest is what a header-mode request asks for.
type headerRequest struct {
	Domain, Roles string // canonical
}

// parseHeaderRequest reads and validates the domain and role headers. Both
// are required, as in the reference; the error message for missing ones is
// the reference's, word for word.
func parseHeaderRequest(h http.Header) (headerRequest, string) {
	domain, role := first(h[domainHeader]), first(h[roleHeader])
	if domain == "" || role == "" {
		return headerRequest{}, "http headers not set: " + domainHeader + "[" + domain + "] " + roleHeader + "[" + role + "]."
	}
	d, r, err := canonical(domain, role)
	if err != nil {
		return headerRequest{}, err.Error()
	}
	if r == "" { // the header held only commas and spaces
		return headerRequest{}, "http headers not set: " + domainHeader + "[" + domain + "] " + roleHeader + "[" + role + "]."
	}
	return headerRequest{Domain: d, Roles: r}, ""
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// keys returns the cache keys of q's tokens: the same keys the targets are
// preloaded under, so that header mode finds them (the reference looked
// access tokens up under another key than it stored them).
func (s *server) keys(q headerRequest) (at, rt Key) {
	at = Key{Kind: accessToken, Domain: q.Domain, Roles: q.Roles, MaxExpiry: s.expiry}
	rt = Key{Kind: roleToken, Domain: q.Domain, Roles: q.Roles, MinExpiry: s.expiry}
	return at, rt
}

// headerMode answers with the access token in Authorization ("bearer
// <AT>"), the role token in the role auth header, and both in the body as
// {"accesstoken":"…","roletoken":"…"}. Every enabled type must be had; a
// token that is missing or about to expire is fetched on the spot.
func (s *server) headerMode(w http.ResponseWriter, r *http.Request, now time.Time) int {
	q, msg := parseHeaderRequest(r.Header)
	if msg != "" {
		return writeError(w, http.StatusBadRequest, msg)
	}
	atKey, rtKey := s.keys(q)
	var at, rt *Token
	if s.wantAT {
		at = s.store.cache.get(atKey, now, s.margin)
	}
	if s.wantRT {
		rt = s.store.cache.get(rtKey, now, s.margin)
	}
	if (s.wantAT && at == nil) || (s.wantRT && rt == nil) {
		var code int
		if at, rt, code = s.headerMisses(w, r, atKey, rtKey, at, rt); code != 0 {
			return code
		}
	}

	h := w.Header()
	bp := s.bufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	if at != nil {
		h["Authorization"] = at.header
		b = append(append(b, `"accesstoken":`...), at.quoted...)
	}
	if rt != nil {
		h[s.roleHeader] = rt.header
		if at != nil {
			b = append(b, ',')
		}
		b = append(append(b, `"roletoken":`...), rt.quoted...)
	}
	b = append(b, '}')
	code := writeOK(w, b)
	*bp = b
	s.bufs.Put(bp)
	return code
}

// headerMisses fetches the tokens header mode did not find in the cache,
// both at once, waiting for the request timeout at most. It returns them
// with the tokens it was given, or answers the failure and returns its
// code. Both have at least the expiry margin left when it returns: the
// first may have aged while the second was fetched.
func (s *server) headerMisses(w http.ResponseWriter, r *http.Request, atKey, rtKey Key, at, rt *Token) (*Token, *Token, int) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	var atF, rtF *flight
	var atErr, rtErr error
	if s.wantAT && at == nil {
		atF, atErr = s.store.demand(atKey)
	}
	if s.wantRT && rt == nil {
		rtF, rtErr = s.store.demand(rtKey)
	}
	// The access token's failure is the answer when both fail, whichever
	// failed first, so that a client always gets the same one.
	if atF != nil {
		res := s.store.wait(ctx, atF)
		at, atErr = res.tok, res.err
	}
	if atErr != nil {
		return nil, nil, s.fetchFailed(w, r, atKey, atErr)
	}
	if rtF != nil {
		res := s.store.wait(ctx, rtF)
		rt, rtErr = res.tok, res.err
	}
	if rtErr != nil {
		return nil, nil, s.fetchFailed(w, r, rtKey, rtErr)
	}
	now := time.Now()
	if at != nil {
		if err := checkServable(atKey, at, now, s.margin); err != nil {
			return nil, nil, s.fetchFailed(w, r, atKey, err)
		}
	}
	if rt != nil {
		if err := checkServable(rtKey, rt, now, s.margin); err != nil {
			return nil, nil, s.fetchFailed(w, r, rtKey, err)
		}
	}
	return at, rt, 0
}
