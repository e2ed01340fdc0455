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

// Source is a provider whose metrics can be gathered.
type Source struct {
	Name   string
	Gather func(ctx context.Context) ([][]byte, error)
}

// Gather returns own's metric families merged with those of every source,
// marshalled as the plugin protocol carries them. A source that fails to
// answer is left out rather than failing the whole scrape; its error is
// returned alongside the families.
func Gather(ctx context.Context, own prometheus.Gatherer, sources []Source) ([][]byte, error) {
	families := make(map[string]*dto.MetricFamily)
	var errs []error
	mfs, err := own.Gather()
	if err != nil {
		errs = append(errs, fmt.Errorf("gathering the agent's metrics: %w", err))
	}
	for _, mf := range mfs {
		families[mf.GetName()] = mf
	}

	results, srcErrs := gatherSources(ctx, sources)
	for i, src := range sources {
		if srcErrs[i] != nil {
			errs = append(errs, srcErrs[i])
			continue
		}
		for _, mf := range results[i] {
			label(mf, src.Name)
			have, ok := families[mf.GetName()]
			switch {
			case !ok:
				families[mf.GetName()] = mf
			case have.GetType() != mf.GetType():
				errs = append(errs, fmt.Errorf("metric %s of %s has type %v, another process exports it as %v", mf.GetName(), src.Name, mf.GetType(), have.GetType()))
			default:
				have.Metric = append(have.Metric, mf.Metric...)
			}
		}
	}

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
	return out, joinErrors(errs)
}

// gatherSources asks every source at once; each one's families or error
// is at its index.
func gatherSources(ctx context.Context, sources []Source) ([][]*dto.MetricFamily, []error) {
	results := make([][]*dto.MetricFamily, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			raw, err := src.Gather(ctx)
			if err == nil {
				results[i], err = pluginpb.UnmarshalFamilies(raw)
			}
			if err != nil {
				errs[i] = fmt.Errorf("gathering the metrics of %s: %w", src.Name, err)
			}
		})
	}
	wg.Wait()
	return results, errs
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
