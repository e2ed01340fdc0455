package token

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// A reload that changes the targets applies in place: the new target is
// fetched at once and written to its file, the removed one's status
// record goes, and the server never stops.
func TestReconfigureAppliesNewTargets(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	s := start(t, z.config("targets:\n  - {domain: sia.demo, roles: [reader]}\nfiles: {dir: "+dir+"}\n"))
	addr := s.p.Addr()
	cfg, err := sdk.ParseConfig("test.yaml", z.config("targets:\n  - {domain: sia.demo, roles: [writer]}\nfiles: {dir: "+dir+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.p.Reconfigure(context.Background(), cfg); err != nil {
		t.Fatalf("Reconfigure: %v", err)
	}
	// Served at once, from the cache, by the same server.
	if got := s.p.Addr(); got.String() != addr.String() {
		t.Errorf("the server moved from %v to %v", addr, got)
	}
	if e := s.p.cache.entries.peek(Key{Kind: roleToken, Domain: "sia.demo", Roles: "writer"}); e == nil || !e.target {
		t.Fatalf("the new target has no target entry: %+v", e)
	}
	if _, err := os.Stat(filepath.Join(dir, "sia.demo:role.writer.accesstoken")); err != nil {
		t.Errorf("the new target's file: %v", err)
	}
	if a := do(t, nil, "GET", s.base+"/", headers("sia.demo", "writer"), ""); a.code != 200 {
		t.Errorf("header mode for the new target: %d %s", a.code, a.body)
	}
	waitFor(t, 10*time.Second, "the removed target's status records to go", func() bool {
		removed := s.Host.Removed()
		return slices.Contains(removed, "accesstoken/sia.demo:reader") && slices.Contains(removed, "roletoken/sia.demo:reader")
	})
	if e := s.p.cache.entries.peek(Key{Kind: roleToken, Domain: "sia.demo", Roles: "reader"}); e != nil && e.target {
		t.Error("the removed target is still a target")
	}
}

// A change of anything but the targets needs a restart, and changes
// nothing.
func TestReconfigureNamesWhatNeedsARestart(t *testing.T) {
	z := startZTS(t, "")
	s := start(t, z.config("targets:\n  - {domain: sia.demo, roles: [reader]}\n"))
	cfg, err := sdk.ParseConfig("test.yaml", z.config("targets:\n  - {domain: sia.demo, roles: [writer]}\ntoken_types: [roletoken]\nzts_timeout: 7s\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.p.Reconfigure(context.Background(), cfg)
	var restart *sdk.RestartRequiredError
	if !errors.As(err, &restart) || !slices.Equal(restart.Fields, []string{"zts_timeout", "token_types"}) {
		t.Fatalf("Reconfigure = %v, want a restart for zts_timeout and token_types", err)
	}
	if slices.ContainsFunc(s.p.targets, func(k Key) bool { return k.Roles == "writer" }) {
		t.Error("a refused change changed the targets")
	}
}
