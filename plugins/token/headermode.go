package token

import (
	"net/http"
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
// are required, as in k8s-athenz-sia; the error message for missing ones is
// k8s-athenz-sia's, word for word.
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
// preloaded under, so that header mode finds them (k8s-athenz-sia looked
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
func (s *server) headerMode(w http.ResponseWriter, r *http.Request) int {
	q, msg := parseHeaderRequest(r.Header)
	if msg != "" {
		return writeError(w, http.StatusBadRequest, msg)
	}
	var keys [maxRequestKeys]Key
	n := 0
	atKey, rtKey := s.keys(q)
	if s.wantAT {
		keys[n], n = atKey, n+1
	}
	if s.wantRT {
		keys[n], n = rtKey, n+1
	}
	toks, failed, err := s.cache.get(r.Context(), keys[:n]...)
	if err != nil {
		return s.fetchFailed(w, r, failed, err)
	}
	var at, rt *Token
	if s.wantAT {
		at = toks[0]
	}
	if s.wantRT {
		rt = toks[n-1]
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
