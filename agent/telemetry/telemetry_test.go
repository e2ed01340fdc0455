package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// fakeProvider is a provider without a process.
type fakeProvider struct {
	name   string
	gather func(ctx context.Context) ([][]byte, error)
}

func (p fakeProvider) Name() string { return p.name }

func (p fakeProvider) Gather(ctx context.Context) ([][]byte, error) { return p.gather(ctx) }

// source returns the marshalled families of a registry holding cs.
func source(t *testing.T, name string, cs ...prometheus.Collector) Provider {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	return fakeProvider{name: name, gather: func(context.Context) ([][]byte, error) {
		mfs, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		out := make([][]byte, len(mfs))
		for i, mf := range mfs {
			if out[i], err = proto.Marshal(mf); err != nil {
				return nil, err
			}
		}
		return out, nil
	}}
}

func gauge(name string, labels prometheus.Labels, v float64) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "help", ConstLabels: labels})
	g.Set(v)
	return g
}

func decode(t *testing.T, raw [][]byte) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := pluginpb.UnmarshalFamilies(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelsOf(m *dto.Metric) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestGatherMergesAndLabelsEveryProvider(t *testing.T) {
	own := prometheus.NewRegistry()
	own.MustRegister(gauge("up_total_seconds", prometheus.Labels{ProviderLabel: AgentName}, 1))
	raw, err := Gather(context.Background(), own, []Provider{
		source(t, "certificate", gauge("up_total_seconds", nil, 2), gauge("only_cert", prometheus.Labels{"zone": "a"}, 3)),
		// A provider that sets a provider label of its own is overruled.
		source(t, "token", gauge("up_total_seconds", prometheus.Labels{ProviderLabel: "liar"}, 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, raw)
	var series []string
	for _, m := range got["up_total_seconds"].GetMetric() {
		series = append(series, labelsOf(m))
	}
	want := []string{"provider=sia-agent", "provider=certificate", "provider=token"}
	if strings.Join(series, " ") != strings.Join(want, " ") {
		t.Errorf("series = %q, want %q", series, want)
	}
	if l := labelsOf(got["only_cert"].GetMetric()[0]); l != "provider=certificate,zone=a" {
		t.Errorf("labels = %q, want them sorted with the provider", l)
	}
}

func TestGatherLeavesOutWhatItCannotMerge(t *testing.T) {
	own := prometheus.NewRegistry()
	own.MustRegister(gauge("clash", nil, 1))
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "clash", Help: "help"})
	failing := fakeProvider{name: "down", gather: func(context.Context) ([][]byte, error) { return nil, errors.New("plugin gone") }}
	raw, err := Gather(context.Background(), own, []Provider{source(t, "other", counter), failing, source(t, "ok", gauge("fine", nil, 1))})
	if err == nil || !strings.Contains(err.Error(), "clash") {
		t.Errorf("error = %v, want it to name the clashing metric", err)
	}
	got := decode(t, raw)
	if n := len(got["clash"].GetMetric()); n != 1 {
		t.Errorf("clash has %d series, want the agent's only", n)
	}
	if _, ok := got["fine"]; !ok {
		t.Error("a failing provider took the others' metrics with it")
	}
}
