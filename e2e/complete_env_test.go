package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/kubetest"
	"github.com/sia-agent/sia-agent/siaenv"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// A k8s-athenz-sia sidecar's environment with every one of its 54
// variables converts with nothing unsupported, and the pipeline runs
// against zts-dev: identity, role certificate, tokens in files and from
// the token server (mTLS, REST and header mode), metrics, health on the
// custom path, the log file, the Secret backup. ROLECERT_DIR and TOKEN_DIR
// are there but empty: k8s-athenz-sia refuses them beside the naming
// formats, which are set, and takes an empty value as unset.
func TestConvertCompleteEnvironment(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	api := kubetest.Start(t)
	state := filepath.Dir(env.zts.CAFile)
	logDir := filepath.Join(t.TempDir(), "log")
	text := env.sidecarEnv(
		"DELAY_JITTER_SECONDS=1",
		"CERT_EXTRA_SAN_DNS=api.extra.zts.athenz.cloud",
		`CERT_SUBJECT=C=JP,ST=Tokyo,L=Chiyoda,O=Example\, Inc.,OU=Platform,STREET=1-1 Marunouchi,POSTALCODE=100-0005`,
		"REFRESH_INTERVAL=24h",
		"ATHENZ_DOMAIN=de", // with ATHENZ_PREFIX=sia. and the suffix: sia.demo
		"ATHENZ_SUFFIX=mo",
		"POD_NAME=pod-a",
		"DELETE_INSTANCE_ID=true",
		"INTERMEDIATE_CERT_BUNDLE=athenz",
		"TARGET_DOMAIN_ROLES=sia.demo:role.reader",
		"ROLECERT_DIR=",
		"ROLE_CERT_NAMING_FORMAT="+env.path("rolecerts/{{domain}}{{delimiter}}{{role}}.cert.pem"),
		"ROLE_CERT_FILENAME_DELIMITER=_",
		"ROLE_CERT_KEY_FILE_OUTPUT=true",
		"ROLE_CERT_KEY_NAMING_FORMAT="+env.path("rolecerts/{{domain}}{{delimiter}}{{role}}.key.pem"),
		"TOKEN_TYPE=roletoken+accesstoken",
		"TOKEN_REFRESH_INTERVAL=30m",
		"TOKEN_EXPIRY=30m",
		"TOKEN_DIR=",
		"ACCESS_TOKEN_NAMING_FORMAT="+env.path("tokens/{{domain}}{{delimiter}}{{role}}.accesstoken"),
		"ROLE_TOKEN_NAMING_FORMAT="+env.path("tokens/{{domain}}{{delimiter}}{{role}}.roletoken"),
		"ACCESS_TOKEN_FILENAME_DELIMITER=_",
		"ROLE_TOKEN_FILENAME_DELIMITER=_",
		"TOKEN_SERVER_ADDR=127.0.0.1:0",
		"TOKEN_SERVER_REST_API=true",
		"USE_TOKEN_SERVER=true",
		"ROLE_AUTH_HEADER=Athenz-Role-Auth",
		"TOKEN_SERVER_TIMEOUT=3s",
		"TOKEN_SERVER_TLS_CERT_PATH="+filepath.Join(state, "server.pem"),
		"TOKEN_SERVER_TLS_KEY_PATH="+filepath.Join(state, "server.key.pem"),
		"TOKEN_SERVER_TLS_CA_PATH="+env.zts.CAFile,
		"SHUTDOWN_DELAY=100ms",
		"SHUTDOWN_TIMEOUT=5s",
		"METRICS_SERVER_ADDR=127.0.0.1:0",
		"HEALTH_CHECK_ADDR=127.0.0.1:0",
		"HEALTH_CHECK_ENDPOINT=/sia/health",
		"LOG_DIR="+logDir,
		"LOG_LEVEL=debug",
		"BACKUP=read+write",
		"CERT_SECRET=sia-identity",
	)
	for _, v := range siaenv.Variables() {
		if !strings.Contains(text, "\n"+v+"=") && !strings.HasPrefix(text, v+"=") {
			t.Fatalf("the environment lacks %s", v)
		}
	}
	file, _, podEnv := convertEnv(t, text)
	p := runAgent(t, file, append(podEnv, "KUBECONFIG="+api.Kubeconfig))
	tokenURL := strings.Replace(serverURL(t, p, "token", "token provider server"), "http://", "https://", 1)
	health := serverURL(t, p, "healthcheck", "health check server")
	metrics := serverURL(t, p, "metrics", "metrics exporter server")
	p.WaitLog(t, "Agent is ready", waitLine)

	client := mtlsClient(t, env, state)
	code, _, body := call(t, client, "POST", tokenURL+"/accesstoken", jsonHeader, `{"domain":"sia.demo"}`)
	var at struct{ Scope string }
	if err := json.Unmarshal([]byte(body), &at); code != http.StatusOK || err != nil || !strings.HasSuffix(at.Scope, " openid") {
		t.Errorf("REST access token: %d %s (%v)", code, body, err)
	}
	req, _ := http.NewRequest("GET", tokenURL+"/", nil)
	req.Header.Set("X-Athenz-Domain", "sia.demo")
	req.Header.Set("X-Athenz-Role", "reader")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Athenz-Role-Auth") == "" {
		t.Errorf("header mode: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, b := fetch(t, health+"/sia/health", nil); code != http.StatusOK {
		t.Errorf("GET /sia/health: %d %s", code, b)
	}
	// k8s-athenz-sia's series, with the pod's labels from NAMESPACE and
	// POD_NAME.
	if code, b := fetch(t, metrics+"/metrics", nil); code != http.StatusOK || !strings.Contains(string(b), `x509_cert_not_after{`) ||
		!strings.Contains(string(b), `k8s_namespace="demo"`) || !strings.Contains(string(b), `k8s_pod="pod-a"`) {
		t.Errorf("GET /metrics: %d, want k8s-athenz-sia's series with k8s_namespace and k8s_pod", code)
	}
	for _, f := range []string{"service.key.pem", "service.cert.pem", "rolecerts/sia.demo_reader.cert.pem",
		"rolecerts/sia.demo_reader.key.pem", "tokens/sia.demo_reader.accesstoken", "tokens/sia.demo_reader.roletoken"} {
		if _, err := os.Stat(env.path(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	select {
	case s := <-api.Applied():
		if s.Namespace != "demo" || s.Name != "sia-identity" {
			t.Errorf("backed up to %s/%s, want demo/sia-identity", s.Namespace, s.Name)
		}
	case <-time.After(waitLine):
		t.Errorf("no backup within %v", waitLine)
	}
	if code := stop(t, p); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.Log.String())
	}
	p.WaitLog(t, certLine("Deleted the instance record at ZTS"), 0)
	if b, err := os.ReadFile(filepath.Join(logDir, "sia-agent.log")); err != nil || !strings.Contains(string(b), "Shutdown completed!") {
		t.Errorf("log file: %v", err)
	}
}

// mtlsClient presents sia.demo.client's identity and trusts zts-dev's CA,
// which signs the token server's certificate here.
func mtlsClient(t *testing.T, env *certEnv, state string) *http.Client {
	t.Helper()
	certFile, keyFile := ztsdev.ServiceCertFiles(state, "sia.demo.client")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(env.zts.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
}
