// Package status keeps the agent's status report: the state of every
// provider, the latest update of every credential and each provider's
// recent log lines. From it come the status file, the health provider's
// readiness and the credential freshness metrics.
package status

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// LogLines is how many recent log lines the report keeps per provider.
const LogLines = 20

// Store is the agent's status. It is safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	report    sdk.StatusReport // the fixed fields
	phase     lifecycle.Phase
	order     []string // provider names in pipeline order
	providers map[string]*provider
	creds     map[credKey]*credential
	logs      map[string]*ring
	silent    map[string]string // providers that do not answer: why
	reload    *sdk.ReloadStatus // the last reload's outcome; nil before one
	changed   chan struct{}     // signalled (non-blocking) on every change
	now       func() time.Time
	circuits  *sdk.CircuitSet  // the upstream endpoints', for every provider
	hooks     []sdk.HookStatus // in the pipeline's order
	onRecord  func(provider string, rec *pluginpb.StatusRecord)

	readyMu  sync.Mutex   // serialises the readiness log
	readyLog hclog.Logger // nil: readiness is not logged
	ready    bool         // as last logged
}

// provider is a provider's entry in the report, with its state typed.
type provider struct {
	state lifecycle.State
	err   string // what went wrong, bounded; "" if nothing
}

type credKey struct{ provider, credential string }

type credential struct {
	sdk.CredentialStatus
	updates map[string]uint64 // by outcome
}

// New returns a store for providers, in pipeline order.
func New(version string, mode sdk.Mode, profile string, providers []string) *Store {
	s := &Store{
		report: sdk.StatusReport{
			AgentVersion: version,
			StartedTS:    time.Now().Unix(),
			Mode:         string(mode),
			Profile:      profile,
		},
		phase:     lifecycle.PhaseLoading,
		order:     providers,
		providers: make(map[string]*provider, len(providers)),
		creds:     make(map[credKey]*credential),
		logs:      make(map[string]*ring, len(providers)),
		silent:    make(map[string]string),
		changed:   make(chan struct{}, 1),
		now:       time.Now,
		circuits:  sdk.NewCircuitSet(),
	}
	for _, name := range providers {
		s.providers[name] = &provider{state: lifecycle.StateLoaded}
		s.logs[name] = &ring{}
	}
	return s
}

func (s *Store) touch() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
	s.logReadiness()
}

// LogReadiness has the store log when a change makes the agent ready
// ("Agent is ready") and, while it runs, when one makes it unready, with
// the reasons. A credential that expires is logged at the next change.
func (s *Store) LogReadiness(log hclog.Logger) {
	s.readyMu.Lock()
	s.readyLog = log
	s.readyMu.Unlock()
}

func (s *Store) logReadiness() {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.readyLog == nil {
		return
	}
	s.mu.Lock()
	ready, notReady := s.readiness(s.now())
	running := s.phase == lifecycle.PhaseRunning
	s.mu.Unlock()
	if ready == s.ready {
		return
	}
	s.ready = ready
	switch {
	case ready:
		s.readyLog.Info("Agent is ready")
	case running:
		reasons := make([]string, len(notReady))
		for i, n := range notReady {
			reasons[i] = strings.TrimPrefix(n.Provider+" "+n.Credential+": "+n.Reason, " : ")
		}
		s.readyLog.Warn("Agent is not ready", "reasons", reasons)
	}
}

// SetPhase records where the agent is: init, start, running, shutdown.
func (s *Store) SetPhase(phase lifecycle.Phase) {
	s.mu.Lock()
	s.phase = phase
	s.mu.Unlock()
	s.touch()
}

// SetState records a provider's lifecycle state.
func (s *Store) SetState(name string, state lifecycle.State, err error) {
	s.mu.Lock()
	if p, ok := s.providers[name]; ok {
		p.state = state
		p.err = ""
		if err != nil {
			p.err = bounded(err.Error())
		}
	}
	s.mu.Unlock()
	s.touch()
}

// SetResponsive records that a provider stopped answering the agent's
// pings (err, the failed ping) or answers again (nil). A silent provider
// makes the agent unready.
func (s *Store) SetResponsive(provider string, err error) {
	s.mu.Lock()
	if err != nil {
		s.silent[provider] = fmt.Sprintf("not answering since %s: %v", s.now().UTC().Format(time.RFC3339), err)
	} else {
		delete(s.silent, provider)
	}
	s.mu.Unlock()
	s.touch()
}

// Record keeps a provider's credential update.
func (s *Store) Record(provider string, rec *pluginpb.StatusRecord) {
	key := credKey{provider, rec.GetCredential()}
	s.mu.Lock()
	c, ok := s.creds[key]
	if !ok {
		c = &credential{updates: make(map[string]uint64)}
		s.creds[key] = c
	}
	last := c.LastUpdateTS
	c.CredentialStatus = sdk.CredentialStatus{
		Provider:            provider,
		Credential:          rec.GetCredential(),
		Kind:                rec.GetKind(),
		UpdateReason:        rec.GetUpdateReason().Word(),
		UpdateOutcome:       rec.GetUpdateOutcome(),
		FailureError:        bounded(rec.GetFailureError()),
		StartedTS:           rec.GetStartedUnixMicros() / 1e6,
		TotalDurationMicros: rec.GetTotalDurationMicros(),
		RPCDurationMicros:   rec.GetRpcDurationMicros(),
		LastUpdateTS:        rec.GetLastUpdateUnix(),
		NextUpdateTS:        rec.GetNextUpdateUnix(),
		ExpiryTS:            rec.GetExpiryUnix(),
		Optional:            rec.GetOptional(),
	}
	if c.LastUpdateTS == 0 {
		c.LastUpdateTS = last // a failed update does not forget the last success
	}
	c.updates[c.UpdateOutcome]++
	onRecord := s.onRecord
	s.mu.Unlock()
	s.touch()
	if onRecord != nil {
		onRecord(provider, rec)
	}
}

// OnRecord has f called with every record a provider reports, after the
// store kept it. f must not block.
func (s *Store) OnRecord(f func(provider string, rec *pluginpb.StatusRecord)) {
	s.mu.Lock()
	s.onRecord = f
	s.mu.Unlock()
}

// ResetHooks forgets the hooks' statuses: a reload replaced them.
func (s *Store) ResetHooks() {
	s.mu.Lock()
	s.hooks = nil
	s.mu.Unlock()
	s.touch()
}

// SetHook keeps the latest status of one of the pipeline's hooks; a
// failed hook never makes the agent unready.
func (s *Store) SetHook(h sdk.HookStatus) {
	s.mu.Lock()
	if i := slices.IndexFunc(s.hooks, func(o sdk.HookStatus) bool { return o.Name == h.Name }); i >= 0 {
		s.hooks[i] = h
	} else {
		s.hooks = append(s.hooks, h)
	}
	s.mu.Unlock()
	s.touch()
}

// Remove forgets a credential the provider no longer keeps.
func (s *Store) Remove(provider, credential string) {
	s.mu.Lock()
	_, ok := s.creds[credKey{provider, credential}]
	delete(s.creds, credKey{provider, credential})
	s.mu.Unlock()
	if ok {
		s.touch()
	}
}

// Log keeps a provider's log line among its most recent ones, with
// anything that looks like a key or a token redacted: the status file is
// read by more people than the agent's log.
func (s *Store) Log(provider, line string) {
	s.mu.Lock()
	r, ok := s.logs[provider]
	s.mu.Unlock()
	if !ok {
		return
	}
	line = redact(bounded(line))
	s.mu.Lock()
	r.add(line)
	s.mu.Unlock()
}

// Report returns the status report as of now.
func (s *Store) Report() sdk.StatusReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	rep := s.report
	rep.Phase = s.phase.String()
	rep.UpdatedTS = now.Unix()
	rep.Providers = make([]sdk.ProviderStatus, 0, len(s.order))
	for _, name := range s.order {
		p := s.providers[name]
		rep.Providers = append(rep.Providers, sdk.ProviderStatus{
			Name: name, State: p.state.String(), Error: p.err, LogDump: s.logs[name].lines(),
		})
	}
	keys := s.credKeys(func(credKey) bool { return true })
	rep.Credentials = make([]sdk.CredentialStatus, 0, len(keys))
	for _, k := range keys {
		rep.Credentials = append(rep.Credentials, s.creds[k].CredentialStatus)
	}
	rep.Hooks = slices.Clone(s.hooks)
	if s.reload != nil {
		r := *s.reload
		rep.LastReload = &r
	}
	rep.Ready, rep.NotReady = s.readiness(now)
	return rep
}

// readiness is whether the agent is ready at now, and why not, without
// the rest of the report: it is asked at every change. s.mu is held.
func (s *Store) readiness(now time.Time) (bool, []sdk.NotReady) {
	var notReady []sdk.NotReady
	for _, name := range s.order {
		p := s.providers[name]
		if p.state != lifecycle.StateStarted {
			reason := "state " + p.state.String()
			if p.err != "" {
				reason += ": " + p.err
			}
			notReady = append(notReady, sdk.NotReady{Provider: name, Reason: reason})
		}
		if why, ok := s.silent[name]; ok {
			notReady = append(notReady, sdk.NotReady{Provider: name, Reason: why})
		}
	}
	unready := s.credKeys(func(k credKey) bool {
		c := s.creds[k].CredentialStatus
		return !c.Optional && unfresh(c, now) != ""
	})
	for _, k := range unready {
		c := s.creds[k].CredentialStatus
		notReady = append(notReady, sdk.NotReady{Provider: c.Provider, Credential: c.Credential, Reason: unfresh(c, now)})
	}
	if s.phase != lifecycle.PhaseRunning {
		return false, append([]sdk.NotReady{{Reason: "agent is in phase " + s.phase.String()}}, notReady...)
	}
	return len(notReady) == 0, notReady
}

// credKeys are the keys of the credentials that keep, by provider, then
// credential. s.mu is held.
func (s *Store) credKeys(keep func(credKey) bool) []credKey {
	var keys []credKey
	for k := range s.creds {
		if keep(k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].provider != keys[j].provider {
			return keys[i].provider < keys[j].provider
		}
		return keys[i].credential < keys[j].credential
	})
	return keys
}

// unfresh says why a credential is not valid now, or "" when it is.
func unfresh(c sdk.CredentialStatus, now time.Time) string {
	switch {
	case c.LastUpdateTS == 0 && c.UpdateOutcome != sdk.OutcomeSuccess && c.UpdateReason != string(sdk.ReasonIsGood):
		return fmt.Sprintf("no credential yet: last update %s: %s", c.UpdateOutcome, c.FailureError)
	case c.ExpiryTS != 0 && c.ExpiryTS <= now.Unix():
		msg := "expired at " + time.Unix(c.ExpiryTS, 0).UTC().Format(time.RFC3339)
		if c.UpdateOutcome != sdk.OutcomeSuccess {
			msg += fmt.Sprintf("; last update %s: %s", c.UpdateOutcome, c.FailureError)
		}
		return msg
	}
	return ""
}

// JSON returns the report as the status file holds it.
func (s *Store) JSON() ([]byte, error) {
	rep := s.Report()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the status report: %w", err)
	}
	return append(b, '\n'), nil
}

// ring holds the last LogLines lines.
type ring struct {
	buf  [LogLines]string
	next int
	full bool
}

func (r *ring) add(line string) {
	r.buf[r.next] = line
	r.next = (r.next + 1) % LogLines
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) lines() []string {
	if !r.full {
		return append([]string(nil), r.buf[:r.next]...)
	}
	return append(append([]string(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
