package metrics

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// compat exports the certificate metrics under the names and labels of
// k8s-athenz-sia, whose /metrics was x509-certificate-exporter with
// relative and error metrics on. Its label set is fixed: a name field a
// certificate lacks is an empty label, which Prometheus treats as no
// label, so queries match as they did. Like the original, it labels a
// certificate with its serial number: a renewal starts new series.
type compat struct {
	namespace, podName string

	notBefore, notAfter, expired, expiresIn, validSince *prometheus.Desc
	fileError, readErrors                               *prometheus.Desc
}

// compatLabels are the labels of each kind of series: the pod's, a
// file's, a certificate's. A certificate's subject and issuer give
// <issuer|subject>_<field> for each name field (appendName).
func compatLabels() (pod, file, cert []string) {
	pod = []string{"k8s_namespace", "k8s_pod"}
	file = append([]string{"filename", "filepath"}, pod...)
	cert = append([]string{"serial_number"}, file...)
	for _, prefix := range []string{"issuer", "subject"} {
		for _, f := range []string{"C", "ST", "L", "O", "OU", "CN"} {
			cert = append(cert, prefix+"_"+f)
		}
	}
	return pod, file, cert
}

func newCompat(k K8sAthenzSia) *compat {
	podLabels, fileLabels, certs := compatLabels()
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help+" (k8s-athenz-sia's name).", labels, nil)
	}
	return &compat{
		namespace:  k.Namespace,
		podName:    k.Pod,
		notBefore:  desc("x509_cert_not_before", "When the certificate becomes valid, as a Unix timestamp", certs),
		notAfter:   desc("x509_cert_not_after", "When the certificate expires, as a Unix timestamp", certs),
		expired:    desc("x509_cert_expired", "Whether the certificate has expired (1) or not (0)", certs),
		expiresIn:  desc("x509_cert_expires_in_seconds", "Seconds until the certificate expires", certs),
		validSince: desc("x509_cert_valid_since_seconds", "Seconds since the certificate became valid", certs),
		fileError:  desc("x509_cert_error", "Whether the file could not be read at this scrape (1) or not (0)", fileLabels),
		readErrors: desc("x509_read_errors", "Files that could not be read at this scrape", podLabels),
	}
}

func (c *compat) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.notBefore, c.notAfter, c.expired, c.expiresIn, c.validSince, c.fileError, c.readErrors} {
		ch <- d
	}
}

func (c *compat) pod() []string { return []string{c.namespace, c.podName} }

func (c *compat) fileLabels(file string) []string {
	return append([]string{filepath.Base(file), file}, c.pod()...)
}

func (c *compat) collectFile(ch chan<- prometheus.Metric, file string, failed bool) {
	ch <- prometheus.MustNewConstMetric(c.fileError, prometheus.GaugeValue, boolValue(failed), c.fileLabels(file)...)
}

func (c *compat) collectCert(ch chan<- prometheus.Metric, file string, cert *x509.Certificate, now time.Time) {
	labels := append([]string{cert.SerialNumber.String()}, c.fileLabels(file)...)
	labels = appendName(labels, &cert.Issuer)
	labels = appendName(labels, &cert.Subject)
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.notBefore, float64(cert.NotBefore.Unix()))
	gauge(c.notAfter, float64(cert.NotAfter.Unix()))
	gauge(c.expired, boolValue(now.After(cert.NotAfter)))
	gauge(c.expiresIn, cert.NotAfter.Sub(now).Seconds())
	gauge(c.validSince, now.Sub(cert.NotBefore).Seconds())
}

// appendName appends the first value of each name field, or "": C, ST,
// L, O, OU, CN. ST is the street address, not the province, as
// x509-certificate-exporter has it.
func appendName(labels []string, n *pkix.Name) []string {
	first := func(vs []string) string {
		if len(vs) == 0 {
			return ""
		}
		return vs[0]
	}
	return append(labels, first(n.Country), first(n.StreetAddress), first(n.Locality),
		first(n.Organization), first(n.OrganizationalUnit), n.CommonName)
}
