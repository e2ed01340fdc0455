package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// validate runs `sia-agent validate` and returns its exit code and output.
func validate(t *testing.T, env []string, args ...string) (int, []string) {
	t.Helper()
	p := e2e.Start(t, filepath.Join(bins, "sia-agent"), env, append([]string{"validate"}, args...)...)
	code := p.Exit(t, waitExit)
	return code, p.Log.Lines()
}

// A pipeline with problems in the file (an unknown agent key, a misspelt
// provider key, an unset variable, a missing plugin) and in two plugins'
// configs: validate reports all of them in one run, in the order of the
// file, each as file:line: key: message, then how many there are.
func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := e2e.WriteFile(t, dir, "pipeline.yaml", fmt.Sprintf(`version: 1
agent:
  log_levl: debug
  plugin_dir: %s
providers:
  - name: certificate
    plugin: cert
    shutdown_timout: 10s
    config:
      endpoint: http://zts.example.com/zts/v1
      identity:
        provider: sys.auth.k8s
        domain: sports
        service: api
        instance_id: pod/1
        attestation_file: ${SIA_TEST_UNSET_ATTESTATION}
      role_certs:
        targets: [sports:role.reader, sports.writers]
  - name: token
    plugin: token
    config: {endpoint: "${SIA_TEST_UNSET_ZTS}", key_file: /k, cert_file: /c}
  - name: metrics
    plugin: metrics
    config:
      adress: 127.0.0.1:9999
  - name: health
    plugin: sia-plugin-helth
`, bins))
	code, lines := validate(t, nil, "--config", file)
	if code != exitConfig {
		t.Errorf("exit code %d, want %d", code, exitConfig)
	}
	want := []string{
		`:3: agent.log_levl: unknown key "log_levl" (did you mean "log_level"?)`,
		`:8: providers.certificate.shutdown_timout: unknown key "shutdown_timout" (did you mean "shutdown_timeout"?)`,
		`:10: providers.certificate.config.endpoint: `,
		`:15: providers.certificate.config.identity.instance_id: `,
		`:16: providers.certificate.config.identity.attestation_file: environment variable SIA_TEST_UNSET_ATTESTATION is not set`,
		`:18: providers.certificate.config.role_certs.targets[1]: `,
		`:21: providers.token.config.endpoint: environment variable SIA_TEST_UNSET_ZTS is not set`,
		`:25: providers.metrics.config.adress: unknown key "adress" (did you mean "address"?)`,
		`:27: providers.health.plugin: plugin "sia-plugin-helth" not found`,
	}
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, file+":") {
			got = append(got, l)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !strings.HasPrefix(got[i], file+want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i+1, got[i], file+want[i])
		}
	}
	if last := lines[len(lines)-1]; last != fmt.Sprintf("9 problems in %s", file) {
		t.Errorf("last line %q, want the summary", last)
	}
	if t.Failed() {
		t.Logf("output:\n%s", e2e.Indented(lines))
	}
}

// A valid pipeline gets the providers table, with the profile applied and
// the shutdown budget added up.
func TestValidatePrintsProviders(t *testing.T) {
	t.Parallel()
	file := pipelineWith(t, "  shutdown_timeout: 10s\n", `providers:
  - name: certificate
    plugin: sia-plugin-test
  - name: token
    plugin: sia-plugin-test
    shutdown_timeout: 25s
  - name: metrics
    plugin: sia-plugin-test
profiles:
  dev:
    providers:
      metrics: {enabled: false}
`)
	code, lines := validate(t, nil, "--config", file, "--profile", "dev")
	if code != 0 {
		t.Fatalf("exit code %d\n%s", code, e2e.Indented(lines))
	}
	out := strings.Join(lines, "\n")
	for _, re := range []string{
		`is valid with profile dev: 2 of 3 providers enabled`,
		`\n  1  certificate  enabled   10s       \S+/sia-plugin-test\n`,
		`\n  2  token        enabled   25s       \S+/sia-plugin-test\n`,
		`\n  3  metrics      disabled  -         sia-plugin-test\n`,
		`Shutdown takes at most 35s\n`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %q:\n%s", re, out)
		}
	}
}

// A plugin binary that is not a plugin cannot be run: exit 1 when that is
// all, exit 78 when a config has problems too; both are reported.
func TestValidatePluginThatCannotRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPlugin := e2e.WriteFile(t, dir, "not-a-plugin", "#!/bin/sh\necho hello\n")
	if err := os.Chmod(notPlugin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		address string
		code    int
		want    []string
	}{
		{"127.0.0.1:0", 1, []string{":6: providers.broken: cannot run the plugin: ", "1 problem in "}},
		{"nowhere", exitConfig, []string{":6: providers.broken: cannot run the plugin: ", ":10: providers.metrics.config.address: ", "2 problems in "}},
	} {
		file := pipeline(t, fmt.Sprintf(`providers:
  - name: broken
    plugin: %s
  - name: metrics
    plugin: metrics
    config: {address: %q}
`, notPlugin, tc.address))
		code, lines := validate(t, nil, "--config", file)
		if code != tc.code {
			t.Errorf("address %s: exit code %d, want %d", tc.address, code, tc.code)
		}
		out := strings.Join(lines, "\n")
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("address %s: output without %q:\n%s", tc.address, want, out)
			}
		}
	}
}
