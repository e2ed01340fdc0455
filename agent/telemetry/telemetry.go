// Package telemetry assembles the metrics of the whole agent: its own and
// every provider plugin's, each provider's series labelled with its name.
package telemetry

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// ProviderLabel names the process a series comes from.
const ProviderLabel = "provider"

// AgentName is the provider label of the agent's own process metrics.
const AgentName = "sia-agent"

// Provider is a provider as telemetry gathers from it.
type Provider interface {
	Name() string
	// Gather returns its metric families, marshalled.
	Gather(ctx context.Context) ([][]byte, error)
}

// Gather returns own's metric families merged with those of every
// provider, marshalled as the plugin protocol carries them. A provider
// that fails to answer is left out rather than failing the whole scrape;
// its error is returned alongside the families.
func Gather(ctx context.Context, own prometheus.Gatherer, providers []Provider) ([][]byte, error) {
	families := make(map[string]*dto.MetricFamily)
	var errs []error
	mfs, err := own.Gather()
	if err != nil {
		errs = append(errs, fmt.Errorf("gathering the agent's metrics: %w", err))
	}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}
	results, gatherErrs := gatherAll(ctx, providers)
	for i, p := range providers {
		if gatherErrs[i] != nil {
			errs = append(errs, gatherErrs[i])
			continue
		}
		errs = append(errs, merge(families, results[i], p.Name())...)
	}
	out, err := marshal(families)
	if err != nil {
		return nil, err
	}
	return out, joinErrors(errs)
}

// gatherAll asks every provider at once; results[i] and errs[i] are
// providers[i]'s.
func gatherAll(ctx context.Context, providers []Provider) (results [][]*dto.MetricFamily, errs []error) {
	results = make([][]*dto.MetricFamily, len(providers))
	errs = make([]error, len(providers))
	var wg sync.WaitGroup
	for i, p := range providers {
		wg.Go(func() {
			raw, err := p.Gather(ctx)
			if err == nil {
				results[i], err = pluginpb.UnmarshalFamilies(raw)
			}
			if err != nil {
				errs[i] = fmt.Errorf("gathering the metrics of %s: %w", p.Name(), err)
			}
		})
	}
	wg.Wait()
	return results, errs
}

// merge adds the families of the named provider to families, labelling
// its series; a family another process exports with another type is left
// out, with an error.
func merge(families map[string]*dto.MetricFamily, mfs []*dto.MetricFamily, name string) []error {
	var errs []error
	for _, mf := range mfs {
		label(mf, name)
		have, ok := families[mf.GetName()]
		switch {
		case !ok:
			families[mf.GetName()] = mf
		case have.GetType() != mf.GetType():
			errs = append(errs, fmt.Errorf("metric %s of %s has type %v, another process exports it as %v", mf.GetName(), name, mf.GetType(), have.GetType()))
		default:
			have.Metric = append(have.Metric, mf.Metric...)
		}
	}
	return errs
}

// marshal encodes families in the order of their names.
func marshal(families map[string]*dto.MetricFamily) ([][]byte, error) {
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([][]byte, 0, len(names))
	for _, name := range names {
		b, err := proto.Marshal(families[name])
		if err != nil {
			return nil, fmt.Errorf("encoding metric family %s: %w", name, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// label sets provider=name on every series of mf, keeping labels sorted.
func label(mf *dto.MetricFamily, name string) {
	for _, m := range mf.Metric {
		pairs := m.Label[:0:0]
		for _, lp := range m.Label {
			if lp.GetName() != ProviderLabel {
				pairs = append(pairs, lp)
			}
		}
		pairs = append(pairs, &dto.LabelPair{Name: proto.String(ProviderLabel), Value: proto.String(name)})
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].GetName() < pairs[j].GetName() })
		m.Label = pairs
	}
}

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w (and %d more)", errs[0], len(errs)-1)
}
