package token

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request modes, the mode label of the token server's metrics.
const (
	modeHeader = iota
	modeAccessToken
	modeRoleToken
	modeOther // anything the server does not serve: 404, 405
	numModes
)

var modeNames = [numModes]string{"header", "accesstoken", "roletoken", "other"}

// commonCodes get their counters resolved up front, so that counting a
// request is an atomic add rather than a label lookup.
var commonCodes = []int{200, 400, 403, 404, 405, 413, 415, 421, 429, 500, 502, 503}

// metrics are the provider's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	entries  *prometheus.GaugeVec
	bytes    *prometheus.GaugeVec

	byCode  [numModes]map[int]prometheus.Counter
	latency [numModes]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, c *cache) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sia_token_server_requests_total",
			Help: "Requests the token server answered, by mode (header, accesstoken, roletoken, other) and HTTP status code.",
		}, []string{"mode", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sia_token_server_request_duration_seconds",
			Help:    "Time the token server took to answer, by mode.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"mode"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sia_token_cache_entries",
			Help: "Tokens in the cache, by type, as of the last memory report.",
		}, []string{"type"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sia_token_cache_bytes",
			Help: "Bytes the cache holds for its keys and tokens, by type, as of the last memory report.",
		}, []string{"type"}),
	}
	for mode := range numModes {
		m.byCode[mode] = make(map[int]prometheus.Counter, len(commonCodes))
		for _, code := range commonCodes {
			m.byCode[mode][code] = m.requests.WithLabelValues(modeNames[mode], strconv.Itoa(code))
		}
		m.latency[mode] = m.duration.WithLabelValues(modeNames[mode])
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.entries, m.bytes, expiryCollector{c}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// request counts one answer of the token server.
func (m *metrics) request(mode, code int, d time.Duration) {
	if c, ok := m.byCode[mode][code]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(modeNames[mode], strconv.Itoa(code)).Inc()
	}
	m.latency[mode].Observe(d.Seconds())
}

// cacheSize sets the cache gauges.
func (m *metrics) cacheSize(s cacheStats) {
	for k, n := range s.Entries {
		m.entries.WithLabelValues(k.String()).Set(float64(n))
	}
	for k, n := range s.Bytes {
		m.bytes.WithLabelValues(k.String()).Set(float64(n))
	}
}

// expiryCollector exports the expiry of every cached token at scrape time,
// so that evicted tokens leave no stale series behind.
type expiryCollector struct{ c *cache }

var expiryDesc = prometheus.NewDesc("sia_token_expiry_timestamp_seconds",
	"When each cached token expires, in Unix seconds.",
	[]string{"type", "domain", "roles", "proxy_for_principal", "min_expiry", "max_expiry"}, nil)

func (expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (e expiryCollector) Collect(ch chan<- prometheus.Metric) {
	e.c.tokens(func(k Key, t *Token) {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, float64(t.Expiry.Unix()),
			k.Kind.String(), k.Domain, k.Roles, k.ProxyForPrincipal,
			strconv.Itoa(int(k.MinExpiry)), strconv.Itoa(int(k.MaxExpiry)))
	})
}
