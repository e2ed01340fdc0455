// Package ztsmetrics counts and times a provider's calls to ZTS under the
// same names in every provider, so that one query covers them all; the
// agent's provider label tells the providers apart.
package ztsmetrics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ZTS call series of one provider.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New registers the series with reg. Registering twice with the same
// registry returns the series registered first.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sia_zts_requests_total",
			Help: "Calls to ZTS, by operation and HTTP status code (error, timeout or canceled when no response came).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sia_zts_request_duration_seconds",
			Help:    "How long ZTS took to answer, until the response headers, by operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
	}
	if reg == nil {
		return m, nil
	}
	var dup prometheus.AlreadyRegisteredError
	if err := reg.Register(m.requests); errors.As(err, &dup) {
		m.requests = dup.ExistingCollector.(*prometheus.CounterVec)
	} else if err != nil {
		return nil, fmt.Errorf("registering the ZTS request metrics: %w", err)
	}
	if err := reg.Register(m.duration); errors.As(err, &dup) {
		m.duration = dup.ExistingCollector.(*prometheus.HistogramVec)
	} else if err != nil {
		return nil, fmt.Errorf("registering the ZTS request metrics: %w", err)
	}
	return m, nil
}

// Observe records one call: its HTTP status, or err when none came.
func (m *Metrics) Observe(op string, status int, err error, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(op, Code(status, err)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

// Code is the code label of a call.
func Code(status int, err error) string {
	switch {
	case err == nil:
		return strconv.Itoa(status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}
