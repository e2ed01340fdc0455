package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		config string
		want   string // part of the error; "" for none
	}{
		{"", ""},
		{"address: 127.0.0.1:0\ntimeout: 3s\nx509_files: [/a.pem, 'certs/*.pem']\ntls: {cert_file: c.pem, key_file: k.pem}", ""},
		{"address: nope", `test.yaml:1: address: "nope" is not host:port`},
		{"address: 127.0.0.1:0\ntimeout: 0s", "test.yaml:2: timeout: must be more than 0"},
		{"x509_files:\n  - a.pem\n  - '[bad'", `test.yaml:3: x509_files[1]: "[bad" is not a valid glob pattern`},
		{"x509_files: ['']", "x509_files[0]: empty path"},
		{"timeout: 1s\ntls:\n  cert_file: c.pem", "test.yaml:2: tls.key_file: required with tls.cert_file"},
		{"adress: 127.0.0.1:1", "adress"},
		{"timeout: soon", `"soon" is not a duration`},
		{"k8s_athenz_sia: {enabled: true, k8s_namespace: sports, k8s_pod: api-0}", ""},
		{"k8s_athenz_sia:\n  k8s_pod: api-0", "test.yaml:1: k8s_athenz_sia.enabled: k8s_namespace and k8s_pod label only the k8s-athenz-sia metrics: set enabled: true"},
	}
	for _, c := range cases {
		cfg, err := sdk.ParseConfig("test.yaml", c.config)
		if err != nil {
			t.Fatal(err)
		}
		err = (&Provider{}).Validate(context.Background(), cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%q): %v", c.config, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%q) = %v, want an error containing %q", c.config, err, c.want)
		}
	}
}

func TestRelativePathsFollowThePipelineFile(t *testing.T) {
	cfg, err := sdk.ParseConfig("/etc/sia/pipeline.yaml", "x509_files: [certs/a.pem, /abs/b.pem]\ntls: {cert_file: tls/c.pem, key_file: tls/k.pem}")
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.X509Files, " "); got != "/etc/sia/certs/a.pem /abs/b.pem" {
		t.Errorf("x509_files = %s", got)
	}
	if c.TLS.CertFile != "/etc/sia/tls/c.pem" || c.TLS.KeyFile != "/etc/sia/tls/k.pem" {
		t.Errorf("tls = %+v", c.TLS)
	}
}

// agent stands in for the agent: the provider registers its metrics in
// the agent's registry with its provider label, as the agent's gathering
// would label them, next to metrics of the agent's own.
type agent struct {
	reg *prometheus.Registry
	err error // when set, Metrics fails with it
}

func newAgent(t *testing.T, h *sdktest.Harness) *agent {
	t.Helper()
	a := &agent{reg: prometheus.NewRegistry()}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sia_build_info", Help: "Build.", ConstLabels: prometheus.Labels{"version": "test"}})
	build.Set(1)
	a.reg.MustRegister(build)
	own := prometheus.WrapRegistererWith(prometheus.Labels{"provider": h.Runtime.Name}, a.reg)
	own.MustRegister(collectors.NewGoCollector())
	h.Runtime.Metrics = own
	h.Runtime.Host = a
	return a
}

func (a *agent) ReportStatus(context.Context, sdk.StatusRecord) error { return nil }

func (a *agent) RemoveStatus(context.Context, string) error { return nil }

func (a *agent) Metrics(ctx context.Context) ([]*dto.MetricFamily, error) {
	if a.err != nil {
		return nil, a.err
	}
	return a.reg.Gather()
}

func (a *agent) Status(context.Context) (*sdk.StatusReport, error) { return nil, sdk.ErrNoHost }

// started runs a metrics provider with config (address 127.0.0.1:0 added)
// up to Start and returns its base URL.
func started(t *testing.T, config string) (*sdktest.Harness, *agent, string) {
	t.Helper()
	p := &Provider{}
	h := sdktest.New(t, p, "metrics", "address: 127.0.0.1:0\n"+config)
	a := newAgent(t, h)
	if err := h.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := h.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return h, a, "http://" + p.srv.Addr().String()
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func get(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// scrape fetches /metrics in the text format and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, "GET", base+"/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the series of mf with labels, failing the
// test when there is none.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		have := make(map[string]string)
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	t.Fatalf("no series of %s with %v in %v", name, labels, mf)
	return 0
}

func TestScrapeServesTheAgentsMetrics(t *testing.T) {
	_, _, base := started(t, "")
	mfs := scrape(t, base)
	if v := value(t, mfs, "sia_build_info", map[string]string{"version": "test"}); v != 1 {
		t.Errorf("sia_build_info = %v", v)
	}
	value(t, mfs, "go_goroutines", map[string]string{"provider": "metrics"})
	// The provider counts its scrapes; this one is counted once it ended.
	mfs = scrape(t, base)
	if v := value(t, mfs, "promhttp_metric_handler_requests_total", map[string]string{"provider": "metrics", "code": "200"}); v != 1 {
		t.Errorf("promhttp_metric_handler_requests_total{code=200} = %v, want 1", v)
	}
}

func TestContentNegotiation(t *testing.T) {
	_, _, base := started(t, "")
	resp, body := get(t, "GET", base+"/metrics", http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics asked, Content-Type %q", ct)
	}
	if !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics body does not end with # EOF")
	}
	resp, _ = get(t, "GET", base+"/metrics", http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
		t.Errorf("protobuf asked, Content-Type %q", ct)
	}
	resp, _ = get(t, "GET", base+"/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("gzip asked, Content-Encoding %q", ce)
	}
}

func TestPaths(t *testing.T) {
	_, _, base := started(t, "")
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", http.StatusOK},
		{"HEAD", "/metrics", http.StatusOK},
		{"GET", "/metrics/", http.StatusNotFound},
		{"GET", "/healthz", http.StatusNotFound},
		{"GET", "/index.html", http.StatusNotFound},
		{"POST", "/metrics", http.StatusMethodNotAllowed},
		{"DELETE", "/", http.StatusMethodNotAllowed},
	} {
		resp, body := get(t, c.method, base+c.path, nil)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.code)
		}
		if c.path == "/" && c.code == http.StatusOK && !strings.Contains(body, `href="/metrics"`) {
			t.Errorf("GET / has no link to /metrics:\n%s", body)
		}
	}
}

func TestAgentFailureIs500(t *testing.T) {
	_, a, base := started(t, "")
	a.err = errors.New("the agent is gone")
	resp, body := get(t, "GET", base+"/metrics", nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "the agent is gone") {
		t.Errorf("scrape with the agent failing: %s %q", resp.Status, body)
	}
}

func TestX509Metrics(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ca := newCert(t, certSpec{cn: "Test CA", notBefore: now.Add(-time.Hour), notAfter: now.Add(48 * time.Hour), isCA: true})
	leaf := newCert(t, certSpec{cn: "sports.api", serial: 4242, notBefore: now.Add(-time.Minute), notAfter: now.Add(24 * time.Hour), parent: ca})
	old := newCert(t, certSpec{cn: "sports.old", serial: 7, notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour), parent: ca})
	role := newCert(t, certSpec{cn: "sports:role.readers", serial: 99, notBefore: now, notAfter: now.Add(time.Hour), parent: ca})

	// The identity file holds the leaf, its chain and (again) the leaf;
	// the combined file a key too.
	write(t, dir, "service.cert.pem", leaf.pem+ca.pem+leaf.pem)
	write(t, dir, "old.cert.pem", old.pem)
	write(t, dir, "combined.pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"+role.pem)
	write(t, dir, "garbage.pem", "not a certificate")
	if err := os.Mkdir(filepath.Join(dir, "rolecerts"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "rolecerts/sports:role.readers.cert.pem", role.pem)
	missing := filepath.Join(dir, "missing.pem")

	_, _, base := started(t, fmt.Sprintf("x509_files: [%s, %s, %s, %s, %s, '%s', '%s']",
		filepath.Join(dir, "service.cert.pem"), filepath.Join(dir, "old.cert.pem"), filepath.Join(dir, "combined.pem"),
		filepath.Join(dir, "garbage.pem"), missing, filepath.Join(dir, "rolecerts/*.pem"), filepath.Join(dir, "nothing/*.pem")))
	mfs := scrape(t, base)

	leafLabels := map[string]string{"provider": "metrics", "file": filepath.Join(dir, "service.cert.pem"), "subject_cn": "sports.api", "issuer_cn": "Test CA", "index": "0"}
	if v := value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", leafLabels); v != float64(now.Add(24*time.Hour).Unix()) {
		t.Errorf("leaf not_after = %v", v)
	}
	if v := value(t, mfs, "sia_x509_cert_not_before_timestamp_seconds", leafLabels); v != float64(now.Add(-time.Minute).Unix()) {
		t.Errorf("leaf not_before = %v", v)
	}
	if v := value(t, mfs, "sia_x509_cert_expired", leafLabels); v != 0 {
		t.Errorf("leaf expired = %v", v)
	}
	// The chain's CA is a series of its own; the repeated leaf is not.
	value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", map[string]string{"file": filepath.Join(dir, "service.cert.pem"), "subject_cn": "Test CA"})
	if n := countSeries(mfs["sia_x509_cert_not_after_timestamp_seconds"], "file", filepath.Join(dir, "service.cert.pem")); n != 2 {
		t.Errorf("service.cert.pem has %d series, want 2 (leaf and CA)", n)
	}
	if v := value(t, mfs, "sia_x509_cert_expired", map[string]string{"subject_cn": "sports.old"}); v != 1 {
		t.Errorf("old expired = %v, want 1", v)
	}
	value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", map[string]string{"file": filepath.Join(dir, "combined.pem"), "subject_cn": "sports:role.readers"})
	value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", map[string]string{"file": filepath.Join(dir, "rolecerts/sports:role.readers.cert.pem")})

	for file, want := range map[string]float64{
		"service.cert.pem": 0, "old.cert.pem": 0, "combined.pem": 0, "garbage.pem": 1, "missing.pem": 1,
		"rolecerts/sports:role.readers.cert.pem": 0,
	} {
		if v := value(t, mfs, "sia_x509_file_error", map[string]string{"file": filepath.Join(dir, file)}); v != want {
			t.Errorf("sia_x509_file_error{file=%s} = %v, want %v", file, v, want)
		}
	}
	if n := countSeries(mfs["sia_x509_file_error"], "", ""); n != 6 {
		t.Errorf("%d files have an error series, want 6 (a glob matching nothing has none)", n)
	}
	if v := value(t, mfs, "sia_x509_read_errors_total", nil); v != 2 {
		t.Errorf("sia_x509_read_errors_total = %v after one scrape, want 2", v)
	}

	// Files are read at every scrape: a renewed certificate shows at once.
	renewed := newCert(t, certSpec{cn: "sports.old", serial: 8, notBefore: now, notAfter: now.Add(72 * time.Hour), parent: ca})
	write(t, dir, "old.cert.pem", renewed.pem)
	mfs = scrape(t, base)
	if v := value(t, mfs, "sia_x509_cert_expired", map[string]string{"subject_cn": "sports.old"}); v != 0 {
		t.Errorf("renewed expired = %v, want 0", v)
	}
	if v := value(t, mfs, "sia_x509_read_errors_total", nil); v != 4 {
		t.Errorf("sia_x509_read_errors_total = %v after two scrapes, want 4", v)
	}
}

// A renewal replaces a certificate's values, not its series: no label
// changes at every renewal (a serial number would leave one series behind
// per renewal in the scraper's database), and two certificates of the same
// names in one file (a CA bundle during a CA rotation) are told apart by
// their position.
func TestX509SeriesSurviveRenewal(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ca := newCert(t, certSpec{cn: "Test CA", notBefore: now.Add(-time.Hour), notAfter: now.Add(48 * time.Hour), isCA: true})
	caNext := newCert(t, certSpec{cn: "Test CA", serial: 2, notBefore: now, notAfter: now.Add(96 * time.Hour), isCA: true})
	first := newCert(t, certSpec{cn: "sports.api", serial: 10, notBefore: now, notAfter: now.Add(time.Hour), parent: ca})
	write(t, dir, "service.cert.pem", first.pem)
	write(t, dir, "ca.cert.pem", ca.pem+caNext.pem)
	_, _, base := started(t, fmt.Sprintf("x509_files: [%s, %s]", filepath.Join(dir, "service.cert.pem"), filepath.Join(dir, "ca.cert.pem")))

	before := seriesOf(scrape(t, base), "sia_x509_cert_not_after_timestamp_seconds")
	renewed := newCert(t, certSpec{cn: "sports.api", serial: 11, notBefore: now, notAfter: now.Add(2 * time.Hour), parent: ca})
	write(t, dir, "service.cert.pem", renewed.pem)
	mfs := scrape(t, base)
	after := seriesOf(mfs, "sia_x509_cert_not_after_timestamp_seconds")
	if !slices.Equal(before, after) {
		t.Errorf("the renewal changed the series:\nbefore %v\nafter  %v", before, after)
	}
	if n := countSeries(mfs["sia_x509_cert_not_after_timestamp_seconds"], "file", filepath.Join(dir, "service.cert.pem")); n != 1 {
		t.Errorf("service.cert.pem has %d series after a renewal, want 1", n)
	}
	if v := value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", map[string]string{"file": filepath.Join(dir, "service.cert.pem")}); v != float64(now.Add(2*time.Hour).Unix()) {
		t.Errorf("not_after = %v, want the renewed certificate's", v)
	}
	if n := countSeries(mfs["sia_x509_cert_not_after_timestamp_seconds"], "file", filepath.Join(dir, "ca.cert.pem")); n != 2 {
		t.Errorf("ca.cert.pem has %d series, want 2 (two CAs of the same name)", n)
	}
}

// seriesOf lists the label sets of a metric's series, sorted.
func seriesOf(mfs map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range mfs[name].GetMetric() {
		var labels []string
		for _, lp := range m.GetLabel() {
			labels = append(labels, lp.GetName()+"="+lp.GetValue())
		}
		out = append(out, strings.Join(labels, ","))
	}
	slices.Sort(out)
	return out
}

func countSeries(mf *dto.MetricFamily, label, val string) int {
	n := 0
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if label == "" || lp.GetName() == label && lp.GetValue() == val {
				n++
				break
			}
		}
	}
	return n
}

// TestOwnMetricsLint runs promlint over every metric the provider exports
// itself, certificate metrics included.
func TestOwnMetricsLint(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := newCert(t, certSpec{cn: "lint", notBefore: now, notAfter: now.Add(time.Hour)})
	write(t, dir, "c.pem", c.pem)
	h := sdktest.New(t, &Provider{}, "metrics", fmt.Sprintf("address: 127.0.0.1:0\nx509_files: [%s, %s]", filepath.Join(dir, "c.pem"), filepath.Join(dir, "missing.pem")))
	reg := prometheus.NewRegistry()
	h.Runtime.Metrics = reg
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(mfs))
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"promhttp_metric_handler_requests_total", "sia_x509_cert_not_after_timestamp_seconds", "sia_x509_file_error", "sia_x509_read_errors_total"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("no %s among %v", want, names)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestPortInUseFailsStart(t *testing.T) {
	_, _, base := started(t, "")
	addr := strings.TrimPrefix(base, "http://")
	p := &Provider{}
	h := sdktest.New(t, p, "metrics", "address: "+addr)
	newAgent(t, h)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	err := h.Start()
	if err == nil || !strings.Contains(err.Error(), "starting the metrics exporter server: listen tcp "+addr) {
		t.Fatalf("Start on a port in use: %v", err)
	}
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown after a failed Start: %v", err)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	h := sdktest.New(t, &Provider{}, "metrics", "")
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown before Init: %v", err)
	}
	h = sdktest.New(t, &Provider{}, "metrics", "")
	newAgent(t, h)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(); err != nil {
		t.Errorf("Shutdown after Init: %v", err)
	}
}

func TestGoroutineFaultFailsStart(t *testing.T) {
	p := &Provider{}
	h := sdktest.New(t, p, "metrics", "address: 127.0.0.1:0")
	newAgent(t, h)
	rules, err := fault.Parse("metrics:before metrics server goroutine=fail:test error")
	if err != nil {
		t.Fatal(err)
	}
	h.Runtime.Faults = fault.NewPoints("metrics", rules, nil)
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err == nil || err.Error() != "test error" {
		t.Fatalf("Start = %v, want the fault's error", err)
	}
}

// certSpec describes a test certificate.
type certSpec struct {
	cn                  string
	serial              int64
	notBefore, notAfter time.Time
	isCA                bool
	parent              *testCert // nil: self-signed
}

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCert(t *testing.T, s certSpec) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if s.serial == 0 {
		s.serial = 1
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(s.serial),
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		IsCA:                  s.isCA,
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if s.parent != nil {
		parent, signer = s.parent.cert, s.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := sdk.WriteFileAtomic(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
