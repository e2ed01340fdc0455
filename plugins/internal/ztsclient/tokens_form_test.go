package ztsclient

import (
	"testing"

	"github.com/AthenZ/athenz/libs/go/athenzutils"
)

// The access token form is what Athenz's own helper makes, for every
// shape of request.
func TestAccessTokenFormIsAthenzs(t *testing.T) {
	for _, r := range []TokenRequest{
		{Domain: "sia.demo"},
		{Domain: "sia.demo", Roles: "reader"},
		{Domain: "sia.demo", Roles: "reader,writer", MaxExpiry: 3600},
		{Domain: "sia.demo", Roles: "reader", ProxyForPrincipal: "sia.demo.client", MaxExpiry: 60},
		{Domain: "sia.demo", OpenIDService: "agent"},
		{Domain: "sia.demo", Roles: "reader,writer", OpenIDService: "agent", MaxExpiry: 600},
	} {
		want := athenzutils.GenerateAccessTokenRequestString(r.Domain, r.OpenIDService, r.Roles, "", "", r.ProxyForPrincipal, int(r.MaxExpiry))
		if got := accessTokenForm(r); got != want {
			t.Errorf("%+v: form %q, want %q", r, got, want)
		}
	}
}
