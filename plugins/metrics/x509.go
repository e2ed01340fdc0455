package metrics

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// x509Collector exports the validity of the certificates in PEM files,
// every certificate block of every file (chains included), read at scrape
// time so that a rotated file shows at once. It is k8s-athenz-sia's
// embedded x509-certificate-exporter with Prometheus-convention names.
type x509Collector struct {
	patterns   []string // absolute paths or glob patterns
	log        hclog.Logger
	now        func() time.Time
	readErrors prometheus.Counter
	compat     *compat // k8s-athenz-sia's names too, when not nil
}

// certLabels name a certificate by where it is, not by what it is: a
// renewed certificate keeps its series. A serial number (or anything else
// that changes at every renewal) would leave a series behind per renewal
// in the scraper's database. index tells apart two certificates of the
// same names in one file, such as the old and the new CA of a bundle
// during a CA rotation.
var (
	certLabels    = []string{"file", "index", "subject_cn", "issuer_cn"}
	descNotBefore = prometheus.NewDesc("sia_x509_cert_not_before_timestamp_seconds",
		"When the certificate becomes valid, as a Unix timestamp.", certLabels, nil)
	descNotAfter = prometheus.NewDesc("sia_x509_cert_not_after_timestamp_seconds",
		"When the certificate expires, as a Unix timestamp.", certLabels, nil)
	descExpired = prometheus.NewDesc("sia_x509_cert_expired",
		"Whether the certificate has expired (1) or not (0).", certLabels, nil)
	descFileError = prometheus.NewDesc("sia_x509_file_error",
		"Whether the file could not be read or holds no valid certificate at this scrape (1) or is fine (0).", []string{"file"}, nil)
)

func newX509Collector(patterns []string, log hclog.Logger) *x509Collector {
	return &x509Collector{
		patterns: patterns,
		log:      log,
		now:      time.Now,
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sia_x509_read_errors_total",
			Help: "Reads of configured certificate files that failed, since the plugin started.",
		}),
	}
}

func (c *x509Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNotBefore, descNotAfter, descExpired, descFileError} {
		ch <- d
	}
	c.readErrors.Describe(ch)
	if c.compat != nil {
		c.compat.describe(ch)
	}
}

func (c *x509Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	failed := 0
	for _, file := range c.files() {
		certs, err := readCerts(file)
		if err != nil {
			failed++
			c.readErrors.Inc()
			c.log.Debug("Could not read certificates", "file", file, "error", err)
		}
		ch <- prometheus.MustNewConstMetric(descFileError, prometheus.GaugeValue, boolValue(err != nil), file)
		if c.compat != nil {
			c.compat.collectFile(ch, file, err != nil)
		}
		seen := make(map[string]bool, len(certs))
		for i, cert := range certs {
			// The same certificate twice in a file (a leaf repeated in its
			// chain) is exported once.
			if seen[string(cert.Raw)] {
				continue
			}
			seen[string(cert.Raw)] = true
			labels := []string{file, strconv.Itoa(i), cert.Subject.CommonName, cert.Issuer.CommonName}
			ch <- prometheus.MustNewConstMetric(descNotBefore, prometheus.GaugeValue, float64(cert.NotBefore.Unix()), labels...)
			ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), labels...)
			ch <- prometheus.MustNewConstMetric(descExpired, prometheus.GaugeValue, boolValue(now.After(cert.NotAfter)), labels...)
			if c.compat != nil {
				c.compat.collectCert(ch, file, cert, now)
			}
		}
	}
	ch <- c.readErrors
	if c.compat != nil {
		ch <- prometheus.MustNewConstMetric(c.compat.readErrors, prometheus.GaugeValue, float64(failed), c.compat.pod()...)
	}
}

// files expands the patterns, each file once. A literal path is kept even
// when it does not exist, so that its absence shows as an error; a glob
// that matches nothing yields nothing.
func (c *x509Collector) files() []string {
	var out []string
	seen := make(map[string]bool)
	for _, pattern := range c.patterns {
		matches := []string{pattern}
		if strings.ContainsAny(pattern, `*?[\`) {
			matches, _ = filepath.Glob(pattern) // the pattern was validated
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// readCerts parses every CERTIFICATE block of a PEM file; other blocks,
// such as a private key in a combined file, are skipped. A file without
// a certificate is an error.
func readCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	var errs []error
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing certificate %d of %s: %w", len(certs)+len(errs)+1, file, err))
			continue
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no PEM certificate in %s", file))
	}
	return certs, errors.Join(errs...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
