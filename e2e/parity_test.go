package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// siaEnv is the environment of a k8s-athenz-sia init container for
// sia.demo.agent at env's zts-dev, writing into env's directory, with
// extra lines (KEY=VALUE) appended.
func (env *certEnv) siaEnv(extra ...string) string {
	lines := []string{
		"MODE=init",
		"ENDPOINT=" + env.zts.URL,
		"SERVER_CA_CERT=" + env.zts.CAFile,
		"PROVIDER_SERVICE=sys.auth.dev",
		"ATHENZ_PREFIX=sia.",
		"NAMESPACE=demo",
		"SERVICEACCOUNT=agent",
		"SA_TOKEN_FILE=" + env.attestation,
		"POD_UID=pod-1",
		"POD_IP=10.0.0.1",
		"DNS_SUFFIX=zts.athenz.cloud",
		"KEY_FILE=" + env.path("service.key.pem"),
		"CERT_FILE=" + env.path("service.cert.pem"),
		"CA_CERT_FILE=" + env.path("ca.cert.pem"),
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// sidecarEnv is siaEnv with MODE=refresh: k8s-athenz-sia as a sidecar.
func (env *certEnv) sidecarEnv(extra ...string) string {
	return strings.Replace(env.siaEnv(extra...), "MODE=init", "MODE=refresh", 1)
}

// convertEnv converts a k8s-athenz-sia environment with `sia-agent
// convert`, which must find nothing unsupported, and returns the pipeline
// file, its text and the pod's variables it refers to.
func convertEnv(t *testing.T, envText string) (file, pipeline string, podEnv []string) {
	t.Helper()
	envFile := e2e.WriteFile(t, t.TempDir(), "sia.env", envText)
	stdout, stderr, code := convert(t, "--env-file", envFile)
	if code != 0 {
		t.Fatalf("convert: exit code %d\n%s", code, stderr)
	}
	for _, line := range strings.Split(envText, "\n") {
		for _, v := range []string{"NAMESPACE=", "SERVICEACCOUNT=", "POD_IP=", "POD_UID=", "POD_NAME="} {
			if strings.HasPrefix(line, v) {
				podEnv = append(podEnv, line)
			}
		}
	}
	return e2e.WriteFile(t, t.TempDir(), "pipeline.yaml", stdout), stdout, podEnv
}

// convertAndInit converts a k8s-athenz-sia environment (convertEnv) and
// runs the pipeline in init mode with the pod's variables set, as the init
// container would: it must succeed. It returns the pipeline and the run's
// log.
func convertAndInit(t *testing.T, envText string) (pipeline string, log *e2e.Log) {
	t.Helper()
	file, pipeline, podEnv := convertEnv(t, envText)
	p := runAgent(t, file, podEnv, "--mode", "init")
	if code := p.Exit(t, waitExit); code != 0 {
		t.Fatalf("init: exit code %d\n%s\npipeline:\n%s", code, p.Log.String(), pipeline)
	}
	return pipeline, p.Log
}

// pemCerts returns the certificates of a PEM file, in order.
func pemCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := readFile(t, path)
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return certs
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		certs = append(certs, c)
	}
}

// With files.cert_chain the identity certificate file holds the
// certificate and then its signer, as ZTS returns them; with
// role_certs.intermediate_bundle every role certificate file holds the
// certificate and then that ZTS CA bundle. Both still pair with their keys.
func TestCertChainAndIntermediateBundle(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	cfg := env.certConfig("[sia.demo:role.reader]", refreshFastRetries)
	cfg = strings.Replace(cfg, "files:\n", "files:\n  cert_chain: true\n", 1)
	cfg = strings.Replace(cfg, "role_certs:\n", "role_certs:\n  intermediate_bundle: athenz\n", 1)
	p := runAgent(t, certPipeline(t, "", cfg, nil), nil)
	waitAllStarted(t, p)
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)

	ca := pemCerts(t, env.path("ca.cert.pem"))
	if len(ca) == 0 {
		t.Fatal("no CA certificate written")
	}
	for _, f := range []struct{ cert, key string }{
		{env.path("service.cert.pem"), env.path("service.key.pem")},
		{env.path("rolecerts/sia.demo:role.reader.cert.pem"), env.path("rolecerts/sia.demo:role.reader.key.pem")},
	} {
		checkPair(t, f.cert, f.key)
		certs := pemCerts(t, f.cert)
		if len(certs) != 1+len(ca) {
			t.Errorf("%s: %d certificates, want the certificate and the %d of the CA", f.cert, len(certs), len(ca))
			continue
		}
		if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
			t.Errorf("%s: the second certificate did not sign the first: %v", f.cert, err)
		}
		for i, c := range ca {
			if !bytes.Equal(certs[1+i].Raw, c.Raw) {
				t.Errorf("%s: certificate %d is not the CA's", f.cert, 1+i)
			}
		}
	}
}

// Without them, the certificate files hold the certificate alone.
func TestCertAloneByDefault(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	p := runAgent(t, certPipeline(t, "", env.certConfig("[sia.demo:role.reader]", refreshFastRetries), nil), nil)
	waitAllStarted(t, p)
	code := stop(t, p)
	assertRow(t, p, seedOrder, row{succeeded: seedOrder, exit: 0}, code)
	for _, f := range []string{env.path("service.cert.pem"), env.path("rolecerts/sia.demo:role.reader.cert.pem")} {
		if n := len(pemCerts(t, f)); n != 1 {
			t.Errorf("%s: %d certificates, want 1", f, n)
		}
	}
}

// A converted k8s-athenz-sia environment with INTERMEDIATE_CERT_BUNDLE
// writes, as k8s-athenz-sia did, the identity certificate with its signer
// and the role certificates with the bundle appended.
func TestConvertIntermediateCertBundle(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	pipeline, _ := convertAndInit(t, env.siaEnv(
		"TARGET_DOMAIN_ROLES=sia.demo:role.reader",
		"ROLECERT_DIR="+env.path("rolecerts"),
		"INTERMEDIATE_CERT_BUNDLE=athenz",
	))
	for _, want := range []string{"cert_chain: true", "intermediate_bundle: athenz # INTERMEDIATE_CERT_BUNDLE"} {
		if !strings.Contains(pipeline, want) {
			t.Errorf("no %q in the pipeline:\n%s", want, pipeline)
		}
	}
	ca := pemCerts(t, env.path("ca.cert.pem"))
	for _, f := range []string{env.path("service.cert.pem"), filepath.Join(env.path("rolecerts"), "sia.demo:role.reader.cert.pem")} {
		certs := pemCerts(t, f)
		if len(certs) != 1+len(ca) || !bytes.Equal(certs[1].Raw, ca[0].Raw) {
			t.Errorf("%s: %d certificates, want the certificate then the %d of %s", f, len(certs), len(ca), fmt.Sprint(env.path("ca.cert.pem")))
		}
	}
}

// k8s-athenz-sia's naming formats, converted, name the role certificates,
// their keys and the token files of each kind, against zts-dev.
func TestConvertNamingFormats(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	pipeline, _ := convertAndInit(t, env.siaEnv(
		"TARGET_DOMAIN_ROLES=sia.demo:role.reader,sia.demo",
		"ROLE_CERT_NAMING_FORMAT="+env.path("roles/{{domain}}/{{role}}.crt"),
		"ROLE_CERT_KEY_NAMING_FORMAT="+env.path("roles/{{ domain }}/{{ role }}.key"),
		"TOKEN_TYPE=accesstoken+roletoken",
		"ACCESS_TOKEN_NAMING_FORMAT="+env.path("at/{{domain}}{{delimiter}}{{role}}.jwt"),
		"ROLE_TOKEN_NAMING_FORMAT="+env.path("rt/{{domain}}{{delimiter}}{{role}}"),
		"ACCESS_TOKEN_FILENAME_DELIMITER=__",
		"ROLE_TOKEN_FILENAME_DELIMITER=__",
	))
	checkPair(t, env.path("roles/sia.demo/reader.crt"), env.path("roles/sia.demo/reader.key"))
	for _, f := range []string{"at/sia.demo__reader.jwt", "at/sia.demo.jwt", "rt/sia.demo__reader", "rt/sia.demo"} {
		if data := readFile(t, env.path(f)); len(data) == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	for _, want := range []string{"cert_name: ", "key_name: ", "access_token_name: ", "role_token_name: "} {
		if !strings.Contains(pipeline, want) {
			t.Errorf("no %q in the pipeline:\n%s", want, pipeline)
		}
	}
}

// Every attribute of k8s-athenz-sia's CERT_SUBJECT is in the subject of
// the certificates ZTS issues: the identity's OU is the provider, as
// there, and the role certificates' the one CERT_SUBJECT names.
func TestConvertCertSubject(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	convertAndInit(t, env.siaEnv(
		`CERT_SUBJECT=C=JP,ST=Tokyo,L=Chiyoda,O=Example\, Inc.,OU=Platform,STREET=1-1 Marunouchi,POSTALCODE=100-0005`,
		"TARGET_DOMAIN_ROLES=sia.demo:role.reader",
		"ROLECERT_DIR="+env.path("rolecerts"),
	))
	for file, want := range map[string]string{
		"service.cert.pem":                        "CN=sia.demo.agent,OU=sys.auth.dev,O=Example\\, Inc.,POSTALCODE=100-0005,STREET=1-1 Marunouchi,L=Chiyoda,ST=Tokyo,C=JP",
		"rolecerts/sia.demo:role.reader.cert.pem": "CN=sia.demo:role.reader,OU=Platform,O=Example\\, Inc.,POSTALCODE=100-0005,STREET=1-1 Marunouchi,L=Chiyoda,ST=Tokyo,C=JP",
	} {
		if got := pemCerts(t, env.path(file))[0].Subject.String(); got != want {
			t.Errorf("%s: subject %s\nwant %s", file, got, want)
		}
	}
}

// HEALTH_CHECK_ENDPOINT, converted, is a liveness path of the health
// provider beside /healthz and /readyz, in a sidecar run against zts-dev.
func TestConvertHealthCheckEndpoint(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file, _, podEnv := convertEnv(t, env.sidecarEnv(
		"HEALTH_CHECK_ADDR=127.0.0.1:0",
		"HEALTH_CHECK_ENDPOINT=/sia/health",
	))
	p := runAgent(t, file, podEnv)
	health := serverURL(t, p, "healthcheck", "health check server")
	// /readyz is 200 once the agent is ready, which it logs; "Started
	// healthcheck" comes while its phase is still start.
	p.WaitLog(t, "sia-agent: Agent is ready", waitLine)
	for path, want := range map[string]int{"/sia/health": http.StatusOK, "/healthz": http.StatusOK, "/readyz": http.StatusOK, "/sia/health/x": http.StatusNotFound} {
		if code, b := fetch(t, health+path, nil); code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, b, want)
		}
	}
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d\n%s", code, p.Log.String())
	}
}

// DELAY_JITTER_SECONDS, converted, is agent.start_jitter: the agent waits
// a random part of it before it launches the providers, so before any
// call to ZTS, and a signal meanwhile ends it cleanly.
func TestConvertDelayJitter(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file, pipeline, podEnv := convertEnv(t, env.siaEnv("DELAY_JITTER_SECONDS=3600"))
	if !strings.Contains(pipeline, "start_jitter: 1h # DELAY_JITTER_SECONDS") {
		t.Errorf("no start_jitter in the pipeline:\n%s", pipeline)
	}
	p := runAgent(t, file, podEnv, "--mode", "init")
	i := p.WaitLog(t, "sia-agent: Delaying the start: ", waitLine)
	m := regexp.MustCompile(`delay=(\S+) start_jitter=1h0m0s`).FindStringSubmatch(p.Log.Lines()[i])
	if m == nil {
		t.Fatalf("no delay in %q", p.Log.Lines()[i])
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d < 0 || d >= time.Hour {
		t.Fatalf("delay %q (%v), want in [0, 1h)", m[1], err)
	}
	if d < 10*time.Second {
		// Rare (1 in 360): the delay may be over already.
		if code := p.Exit(t, waitExit); code != 0 {
			t.Fatalf("exit code %d\n%s", code, p.Log.String())
		}
		return
	}
	p.Signal(t, syscall.SIGINT)
	if code := p.Exit(t, waitExit); code != 0 {
		t.Fatalf("exit code %d after a signal during the delay\n%s", code, p.Log.String())
	}
	p.WaitLog(t, "Initiating shutdown by cause: received signal: interrupt ...", 0)
	p.WaitLog(t, "Shutdown completed!", 0)
	if p.Log.Index("Updated identity certificate") >= 0 || p.Log.Index("Starting certificate") >= 0 {
		t.Errorf("the providers started during the delay:\n%s", p.Log.String())
	}
}

// LOG_DIR, converted, is agent.log_file: the whole log, the providers'
// lines included, goes to <LOG_DIR>/sia-agent.log as well as to standard
// error, the file private to the agent's user.
func TestConvertLogDir(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	logDir := filepath.Join(t.TempDir(), "log")
	pipeline, log := convertAndInit(t, env.siaEnv("LOG_DIR="+logDir))
	if !strings.Contains(pipeline, "log_file:") {
		t.Errorf("no log_file in the pipeline:\n%s", pipeline)
	}
	file := filepath.Join(logDir, "sia-agent.log")
	data := string(readFile(t, file))
	for _, want := range []string{"sia-agent: Loaded pipeline", "sia-agent.certificate: Updated identity certificate"} {
		if !strings.Contains(data, want) || log.Index(want) < 0 {
			t.Errorf("%q not in both the log file and standard error; file:\n%s", want, data)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file: %v, %v; want mode 0600", fi, err)
	}
}

// A log file that cannot be opened is a configuration error that says
// where, before anything runs.
func TestLogFileCannotBeOpened(t *testing.T) {
	t.Parallel()
	blocker := e2e.WriteFile(t, t.TempDir(), "not-a-dir", "")
	file := pipelineWith(t, "  log_file: {path: "+blocker+"/sia-agent.log}\n",
		"providers:\n  - name: a\n    plugin: sia-plugin-test\n")
	p := runAgent(t, file, nil)
	if code := p.Exit(t, waitExit); code != exitConfig {
		t.Fatalf("exit code %d, want %d\n%s", code, exitConfig, p.Log.String())
	}
	p.WaitLog(t, "agent.log_file.path: cannot write the log to "+blocker+"/sia-agent.log", 0)
}

// Several KEY_FILE and CERT_FILE paths, converted: the key and the
// certificate are written to each of them, against zts-dev.
func TestConvertSeveralKeyAndCertFiles(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	other := t.TempDir()
	text := strings.NewReplacer(
		"KEY_FILE="+env.path("service.key.pem"), "KEY_FILE="+env.path("service.key.pem")+","+filepath.Join(other, "key.pem"),
		"CERT_FILE="+env.path("service.cert.pem"), "CERT_FILE="+env.path("service.cert.pem")+", "+filepath.Join(other, "cert.pem")+","+filepath.Join(other, "chain.pem"),
	).Replace(env.siaEnv())
	pipeline, _ := convertAndInit(t, text)
	for _, want := range []string{"key_copies:", "cert_copies:"} {
		if !strings.Contains(pipeline, want) {
			t.Errorf("no %q in the pipeline:\n%s", want, pipeline)
		}
	}
	checkPair(t, filepath.Join(other, "cert.pem"), filepath.Join(other, "key.pem"))
	for _, f := range []string{"key.pem", "cert.pem", "chain.pem"} {
		primary := env.path("service.cert.pem")
		if f == "key.pem" {
			primary = env.path("service.key.pem")
		}
		if !bytes.Equal(readFile(t, filepath.Join(other, f)), readFile(t, primary)) {
			t.Errorf("%s is not a copy of %s", f, primary)
		}
	}
	if fi, err := os.Stat(filepath.Join(other, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key copy: %v, %v; want mode 0600", fi, err)
	}
}

// SERVICEACCOUNT, converted, also names the service of the access
// tokens' openid scope, as k8s-athenz-sia asked for it: zts-dev says so in
// the scope it returns for a whole domain.
func TestConvertServiceAccountOpenIDScope(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	file, pipeline, podEnv := convertEnv(t, env.sidecarEnv(
		"TOKEN_SERVER_ADDR=127.0.0.1:0",
		"TOKEN_SERVER_REST_API=true",
	))
	if !strings.Contains(pipeline, "openid_service: ${SERVICEACCOUNT} # SERVICEACCOUNT") {
		t.Errorf("no openid_service in the pipeline:\n%s", pipeline)
	}
	p := runAgent(t, file, podEnv)
	url := serverURL(t, p, "token", "token provider server")
	p.WaitLog(t, "Agent is ready", waitLine)
	code, _, body := call(t, keepAlive, "POST", url+"/accesstoken", jsonHeader, `{"domain":"sia.demo"}`)
	var resp struct{ Scope string }
	if err := json.Unmarshal([]byte(body), &resp); code != http.StatusOK || err != nil || !strings.HasSuffix(resp.Scope, " openid") {
		t.Errorf("access token for sia.demo: %d %s (%v), want a scope that ends in openid", code, body, err)
	}
	if code := stop(t, p); code != 0 {
		t.Errorf("exit code %d\n%s", code, p.Log.String())
	}
}
