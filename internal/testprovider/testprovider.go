// Package testprovider is a provider whose behaviour its configuration
// dictates: succeed, fail, block, hang or crash in any phase. The
// end-to-end tests use it to stand in for the specification's four
// providers; with an empty configuration it is a no-op provider.
package testprovider

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/conf"
)

// Config is the provider's configuration.
type Config struct {
	// Goroutines are created in Start, in order, each behind the fault
	// point "before <name> goroutine".
	Goroutines []string `yaml:"goroutines"`
	// InitError and StartError make Init or Start fail with that message.
	InitError  string `yaml:"init_error"`
	StartError string `yaml:"start_error"`
	// StartBlock makes Start wait until the run context is cancelled.
	StartBlock bool `yaml:"start_block"`
	// ShutdownError makes Shutdown fail; ShutdownHang makes it never
	// return; ShutdownWaitFIFO makes it wait until the named FIFO is opened
	// for writing, so a test can act while Shutdown is under way.
	ShutdownError    string `yaml:"shutdown_error"`
	ShutdownHang     bool   `yaml:"shutdown_hang"`
	ShutdownWaitFIFO string `yaml:"shutdown_wait_fifo"`
	// CrashAfter, if set, exits the process with CrashCode that long after
	// Start, as a crashing plugin would.
	CrashAfter sdk.Duration `yaml:"crash_after"`
	CrashCode  int          `yaml:"crash_code"`
	// LogLines are logged at Start, each as a message of its own;
	// LogLineBytes, if set, logs one more line of that many bytes, as a
	// provider gone wrong might.
	LogLines     []string `yaml:"log_lines"`
	LogLineBytes int      `yaml:"log_line_bytes"`
	// StdlogLines are written with the standard library's log package at
	// Start, as a library a provider uses might; StdoutLines and
	// StderrLines are printed to os.Stdout and os.Stderr, as a stray
	// fmt.Println would be.
	StdlogLines []string `yaml:"stdlog_lines"`
	StdoutLines []string `yaml:"stdout_lines"`
	StderrLines []string `yaml:"stderr_lines"`
}

// Provider is the test provider.
type Provider struct {
	cfg     Config
	log     hclog.Logger
	group   *sdk.Group
	started bool
}

// Validate checks the config; sdk.Config.Decode calls it.
func (c Config) Validate() error {
	var check conf.Checker
	if c.CrashCode < 0 || c.CrashCode > 255 {
		check.Errorf("crash_code", "must be between 0 and 255")
	}
	if c.ShutdownHang && c.ShutdownWaitFIFO != "" {
		check.Errorf("shutdown_hang", "set shutdown_hang or shutdown_wait_fifo, not both")
	}
	return check.Err()
}

func (p *Provider) Validate(_ context.Context, cfg sdk.Config) error {
	var c Config
	return cfg.Decode(&c)
}

func (p *Provider) Init(_ context.Context, rt *sdk.Runtime) error {
	if err := rt.Config.Decode(&p.cfg); err != nil {
		return err
	}
	p.log = rt.Logger
	p.group = sdk.NewGroup(rt)
	if p.cfg.InitError != "" {
		return errors.New(p.cfg.InitError)
	}
	p.log.Info("Initialized test provider", "provider", rt.Name, "pid", os.Getpid())
	return nil
}

func (p *Provider) Start(ctx context.Context) error {
	p.started = true
	for _, line := range p.cfg.LogLines {
		p.log.Info(line)
	}
	for _, line := range p.cfg.StdlogLines {
		log.Print(line)
	}
	for _, line := range p.cfg.StdoutLines {
		fmt.Fprintln(os.Stdout, line)
	}
	for _, line := range p.cfg.StderrLines {
		fmt.Fprintln(os.Stderr, line)
	}
	if n := p.cfg.LogLineBytes; n > 0 {
		p.log.Warn("A very long line", "payload", strings.Repeat("x", n))
	}
	for _, name := range p.cfg.Goroutines {
		if err := p.group.GoContext(ctx, name, func(ctx context.Context) {
			<-ctx.Done()
			p.log.Info("Stopped " + name + " goroutine")
		}); err != nil {
			return err
		}
		p.log.Info("Started " + name + " goroutine")
	}
	if d := time.Duration(p.cfg.CrashAfter); d > 0 {
		code := p.cfg.CrashCode
		if code == 0 {
			code = 3
		}
		if err := p.group.GoContext(ctx, "crash timer", func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-time.After(d):
				p.log.Error("Crashing as configured", "code", code)
				os.Exit(code)
			}
		}); err != nil {
			return err
		}
	}
	if p.cfg.StartBlock {
		<-ctx.Done()
		p.log.Info("Start unblocked by cancellation", "cause", context.Cause(ctx))
	}
	if p.cfg.StartError != "" {
		return errors.New(p.cfg.StartError)
	}
	return nil
}

func (p *Provider) Shutdown(context.Context) error {
	if p.group == nil { // Init never ran
		return nil
	}
	p.log.Info("Shutdown called", "started", p.started)
	switch {
	case p.cfg.ShutdownHang:
		select {}
	case p.cfg.ShutdownWaitFIFO != "":
		// Opening a FIFO for reading blocks until a writer opens it.
		f, err := os.OpenFile(p.cfg.ShutdownWaitFIFO, os.O_RDONLY, 0)
		if err != nil {
			return err
		}
		_ = f.Close() // opened only to wait for the writer
	}
	p.group.Stop()
	if p.cfg.ShutdownError != "" {
		return errors.New(p.cfg.ShutdownError)
	}
	return nil
}
