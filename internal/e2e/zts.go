package e2e

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ZTS is a running zts-dev.
type ZTS struct {
	*Process
	URL    string // https://127.0.0.1:PORT/zts/v1
	CAFile string
	Config string // the config file it reads; rewrite it and send SIGHUP to reload
}

var readyRE = regexp.MustCompile(`zts-dev listening on (\S+) \(CA bundle: (\S+)\)`)

// StartZTS runs the zts-dev binary in bins with the given configuration on
// a free loopback port and waits until it is ready.
func StartZTS(t testing.TB, bins, config string) *ZTS {
	t.Helper()
	dir := t.TempDir()
	cfg := WriteFile(t, dir, "zts.yaml", config)
	p := Start(t, filepath.Join(bins, "zts-dev"), nil,
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0")
	i := p.WaitLog(t, "zts-dev listening on", 30*time.Second)
	m := readyRE.FindStringSubmatch(p.Log.Lines()[i])
	if m == nil {
		t.Fatalf("unexpected readiness line: %s", p.Log.Lines()[i])
	}
	return &ZTS{Process: p, URL: m[1], CAFile: m[2], Config: cfg}
}
