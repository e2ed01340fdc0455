// Command sia-plugin-stamp is a sia-agent provider that keeps a file
// stamped with the time of its last refresh.
package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// config is the provider's `config:` block in the pipeline.
type config struct {
	File     string       `yaml:"file"`
	Interval sdk.Duration `yaml:"interval"`
}

// Validate checks the block; Decode calls it and names each problem's line.
func (c config) Validate() error {
	var check conf.Checker
	if c.File == "" {
		check.Errorf("file", "required: the file to stamp, e.g. /tmp/stamp")
	}
	if c.Interval <= 0 {
		check.Errorf("interval", "must be more than 0")
	}
	return check.Err()
}

// load decodes and checks the block; problems name the file and line.
func load(cfg sdk.Config) (config, error) {
	c := config{Interval: sdk.Duration(time.Minute)} // defaults first
	if err := cfg.Decode(&c); err != nil {           // strict: unknown keys are errors
		return c, err
	}
	if !filepath.IsAbs(c.File) { // relative to the pipeline file
		c.File = filepath.Join(filepath.Dir(cfg.File), c.File)
	}
	return c, nil
}

type stamp struct {
	rt    *sdk.Runtime
	cfg   config
	group *sdk.Group
}

func (p *stamp) Validate(_ context.Context, cfg sdk.Config) error {
	_, err := load(cfg)
	return err
}

func (p *stamp) Init(ctx context.Context, rt *sdk.Runtime) error {
	cfg, err := load(rt.Config)
	if err != nil {
		return err
	}
	p.rt, p.cfg, p.group = rt, cfg, sdk.NewGroup(rt)
	return p.write(ctx, sdk.ReasonNew) // in --mode init, this is all that runs
}

func (p *stamp) Start(ctx context.Context) error {
	return p.group.GoContext(ctx, "stamp timer", func(gctx context.Context) {
		sdk.RefreshLoop(ctx, gctx.Done(), p.cfg.Interval.Std, func(ctx context.Context) {
			_ = p.write(ctx, sdk.ReasonExpires)
		}, nil)
	})
}

func (p *stamp) Shutdown(context.Context) error {
	if p.group != nil { // nil when Init never ran
		p.group.Stop() // notifies every goroutine and waits for them
	}
	return nil
}

// write stamps the file and reports the update to the agent.
func (p *stamp) write(ctx context.Context, reason sdk.Reason) error {
	now := time.Now()
	err := sdk.WriteFileAtomic(p.cfg.File, []byte(now.Format(time.RFC3339)+"\n"), 0o644)
	rec := sdk.StatusRecord{
		Credential: "stamp", Kind: "file", Reason: reason,
		Outcome: sdk.Outcome(err), Err: err,
		Started: now, Duration: time.Since(now),
		NextUpdate: now.Add(p.cfg.Interval.Std()),
	}
	if err == nil {
		rec.LastUpdate = now
		p.rt.Logger.Info("Stamped", "file", p.cfg.File)
	} else {
		p.rt.Logger.Error("Failed to stamp", "file", p.cfg.File, "error", err)
	}
	if rerr := p.rt.Host.ReportStatus(ctx, rec); rerr != nil {
		p.rt.Logger.Warn("Reporting the status failed", "error", rerr)
	}
	return err
}

func main() { sdk.Serve(&stamp{}) }
