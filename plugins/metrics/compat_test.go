package metrics

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// With k8s_athenz_sia enabled, the certificate metrics are also exported
// under k8s-athenz-sia's names and labels (its x509-certificate-exporter:
// filename, filepath, serial_number, the subject's and issuer's name
// fields), with k8s_namespace and k8s_pod, so that its dashboards and
// alerts keep working.
func TestK8sAthenzSiaMetrics(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ca := newCert(t, certSpec{cn: "Test CA", notBefore: now.Add(-time.Hour), notAfter: now.Add(48 * time.Hour), isCA: true})
	leaf := newCert(t, certSpec{cn: "sports.api", serial: 4242, notBefore: now.Add(-time.Minute), notAfter: now.Add(24 * time.Hour), parent: ca})
	write(t, dir, "service.cert.pem", leaf.pem+ca.pem)
	cert, missing := filepath.Join(dir, "service.cert.pem"), filepath.Join(dir, "missing.pem")

	_, _, base := started(t, fmt.Sprintf("x509_files: [%s, %s]\nk8s_athenz_sia: {enabled: true, k8s_namespace: sports, k8s_pod: api-7d9f}", cert, missing))
	mfs := scrape(t, base)
	labels := map[string]string{
		"filename": "service.cert.pem", "filepath": cert, "serial_number": "4242",
		"subject_CN": "sports.api", "issuer_CN": "Test CA", "k8s_namespace": "sports", "k8s_pod": "api-7d9f",
	}
	if v := value(t, mfs, "x509_cert_not_after", labels); v != float64(leaf.cert.NotAfter.Unix()) {
		t.Errorf("x509_cert_not_after = %v, want %d", v, leaf.cert.NotAfter.Unix())
	}
	if v := value(t, mfs, "x509_cert_not_before", labels); v != float64(leaf.cert.NotBefore.Unix()) {
		t.Errorf("x509_cert_not_before = %v, want %d", v, leaf.cert.NotBefore.Unix())
	}
	if v := value(t, mfs, "x509_cert_expired", labels); v != 0 {
		t.Errorf("x509_cert_expired = %v, want 0", v)
	}
	// Relative to the same moment of the scrape: together, the lifetime.
	in, since := value(t, mfs, "x509_cert_expires_in_seconds", labels), value(t, mfs, "x509_cert_valid_since_seconds", labels)
	if life := leaf.cert.NotAfter.Sub(leaf.cert.NotBefore).Seconds(); math.Abs(in+since-life) > 1e-3 || in <= 0 || since <= 0 {
		t.Errorf("expires in %v s and valid since %v s; want both positive, adding up to %v s", in, since, life)
	}
	value(t, mfs, "x509_cert_not_after", map[string]string{"filepath": cert, "subject_CN": "Test CA", "k8s_pod": "api-7d9f"})
	if v := value(t, mfs, "x509_cert_error", map[string]string{"filepath": cert, "k8s_namespace": "sports"}); v != 0 {
		t.Errorf("x509_cert_error{%s} = %v, want 0", cert, v)
	}
	if v := value(t, mfs, "x509_cert_error", map[string]string{"filename": "missing.pem", "filepath": missing}); v != 1 {
		t.Errorf("x509_cert_error{%s} = %v, want 1", missing, v)
	}
	if v := value(t, mfs, "x509_read_errors", map[string]string{"k8s_pod": "api-7d9f"}); v != 1 {
		t.Errorf("x509_read_errors = %v, want 1 (the missing file, at this scrape)", v)
	}
	// This project's names stay.
	value(t, mfs, "sia_x509_cert_not_after_timestamp_seconds", map[string]string{"file": cert, "subject_cn": "sports.api"})
}

// Without it, k8s-athenz-sia's names are not exported; the pod's labels
// without it are a configuration error.
func TestK8sAthenzSiaMetricsOff(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	write(t, dir, "c.pem", newCert(t, certSpec{cn: "c", notBefore: now, notAfter: now.Add(time.Hour)}).pem)
	_, _, base := started(t, fmt.Sprintf("x509_files: [%s]", filepath.Join(dir, "c.pem")))
	for name := range scrape(t, base) {
		if len(name) > 5 && name[:5] == "x509_" {
			t.Errorf("%s exported without k8s_athenz_sia", name)
		}
	}
}
