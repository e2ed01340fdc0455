package ztsdev

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/sia-agent/sia-agent/sdk/conf"
)

// demoConfigName names the built-in data set in errors and logs.
const demoConfigName = "<built-in demo config>"

// readConfig loads the config file, or the built-in demo data set, and
// returns the digest of the content it read, even when that content is
// invalid, so the watcher does not retry a broken file on every tick.
func (s *Server) readConfig() (*Config, [32]byte, error) {
	if s.opts.ConfigFile == "" {
		data := DemoConfig()
		cfg, err := ParseConfig(demoConfigName, data)
		return cfg, sha256.Sum256(data), err
	}
	data, err := os.ReadFile(s.opts.ConfigFile)
	if err != nil {
		// A missing or unreadable file is a config problem like any other.
		msg := err.Error()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			msg = pe.Err.Error() // the problem names the file already
		}
		return nil, [32]byte{}, conf.Problems{{File: s.opts.ConfigFile, Message: msg}}
	}
	cfg, err := ParseConfig(s.opts.ConfigFile, data)
	return cfg, sha256.Sum256(data), err
}

// Reload re-reads the config file and swaps it in for requests that start
// afterwards. On error the current config stays in force. Fault rules that
// did not change keep their remaining counts.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	err := s.reloadLocked()
	if s.opts.OnReload != nil {
		s.opts.OnReload(err)
	}
	return err
}

func (s *Server) reloadLocked() error {
	cfg, sum, err := s.readConfig()
	if sum != ([32]byte{}) {
		s.configSum = sum
	}
	if err != nil {
		s.log.Error("reload failed; keeping the current config", "error", err)
		return err
	}
	st, err := newState(cfg, s.keys, s.host, s.port, s.state.Load().faults)
	if err != nil {
		s.log.Error("reload failed; keeping the current config", "error", err)
		return err
	}
	s.state.Store(st)
	if err := s.writeAthenzConf(); err != nil {
		s.log.Warn("config reloaded but athenz.conf not updated", "error", err)
	}
	s.log.Info("config reloaded", "config", s.opts.ConfigFile, "domains", len(cfg.Domains),
		"providers", len(cfg.Providers), "faults", len(cfg.Faults))
	return nil
}

// watch polls the config file and reloads it when its content changes.
// Comparing content rather than mtime cannot miss two writes within the
// file system's timestamp granularity.
func (s *Server) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(s.opts.ConfigFile)
		if err != nil {
			// Editors replace files by rename; a missing file is
			// usually a moment in between.
			s.log.Debug("config watch: cannot read config", "error", err)
			continue
		}
		s.reloadMu.Lock()
		changed := sha256.Sum256(data) != s.configSum
		s.reloadMu.Unlock()
		if changed {
			s.log.Info("config file changed; reloading", "config", s.opts.ConfigFile)
			_ = s.Reload() // logged by reloadLocked
		}
	}
}
