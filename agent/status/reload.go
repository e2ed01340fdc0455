package status

import (
	"time"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/sdk"
)

// SetProviders makes names, in their order, the providers the report
// shows, after a reload: a new one starts as loaded, one no longer named
// leaves the report with its credentials and log lines.
func (s *Store) SetProviders(names []string) {
	s.mu.Lock()
	keep := make(map[string]bool, len(names))
	for _, name := range names {
		keep[name] = true
		if _, ok := s.providers[name]; !ok {
			s.providers[name] = &provider{state: lifecycle.StateLoaded}
			s.logs[name] = &ring{}
		}
	}
	for name := range s.providers {
		if !keep[name] {
			delete(s.providers, name)
			delete(s.logs, name)
			delete(s.silent, name)
		}
	}
	for k := range s.creds {
		if !keep[k.provider] {
			delete(s.creds, k)
		}
	}
	s.order = append([]string(nil), names...)
	s.mu.Unlock()
	s.touch()
}

// SetReload records how a reload of the pipeline ended at when: err is
// why it failed, nil for a success.
func (s *Store) SetReload(when time.Time, err error) {
	r := &sdk.ReloadStatus{TS: when.Unix(), Outcome: sdk.ReloadSuccess}
	if err != nil {
		r.Outcome = sdk.ReloadFailure
		r.Error = bounded(err.Error())
	}
	s.mu.Lock()
	s.reload = r
	s.mu.Unlock()
	s.touch()
}
