package token

import (
	"context"
	"reflect"
	"slices"

	"github.com/sia-agent/sia-agent/sdk"
)

var _ sdk.Reconfigurer = (*Provider)(nil)

// Reconfigure applies a reload's config while the provider runs: a change
// of the targets only. A new target is added to the cache and fetched
// once before Reconfigure returns, as Init does, so that it is served
// (and its file written) at once; a removed target is kept fresh no
// more, its status record leaves the agent's report, and its token is
// served on demand like any other. The token server keeps running
// throughout. A change of any other key needs a restart: Reconfigure
// returns sdk.RestartRequired naming them, and changes nothing.
func (p *Provider) Reconfigure(ctx context.Context, cfg sdk.Config) error {
	next, err := decodeConfig(cfg)
	if err != nil {
		return err
	}
	if p.cache == nil {
		return sdk.RestartRequired("targets") // not initialised: nothing to change in place
	}
	if fields := restartFields(p.cfg, next); len(fields) > 0 {
		return sdk.RestartRequired(fields...)
	}
	keys := next.targetKeys()
	var added, removed []Key
	for _, k := range keys {
		if !slices.Contains(p.targets, k) {
			added = append(added, k)
			p.cache.addTarget(k)
		}
	}
	for _, k := range p.targets {
		if !slices.Contains(keys, k) {
			removed = append(removed, k)
			p.cache.removeTarget(k)
		}
	}
	p.cfg.Targets = next.Targets
	p.targets = keys
	p.cache.prefetch(ctx, added)
	p.log.Info("Applied the new targets", "added", len(added), "removed", len(removed), "targets", len(keys))
	return nil
}

// restartFields names the keys of the config, but for targets, whose
// values differ between old and next: those only a restart applies.
func restartFields(old, next Config) []string {
	var fields []string
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(next)
	for i := range ov.NumField() {
		f := ov.Type().Field(i)
		if f.Name == "Targets" {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			fields = append(fields, f.Tag.Get("yaml"))
		}
	}
	return fields
}
