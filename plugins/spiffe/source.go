package spiffe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// source keeps the snapshot both APIs serve, and reads it anew when the
// cert provider's files change. It finds out by polling: each poll resolves
// the files' names and stats them (a few system calls a file), and reads
// them only when something changed.
type source struct {
	s    *settings
	log  hclog.Logger
	host sdk.Host
	now  func() time.Time

	readMu   sync.Mutex           // one read at a time: Init, then the poller
	print    string               // of the files the snapshot was read from
	reported map[string]*reported // by credential name, what the status says

	mu      sync.Mutex
	cur     *snapshot
	changed chan struct{} // closed and replaced when cur changes
}

// reported is what the last status record of a credential said.
type reported struct {
	served  []byte // the certificate (or bundle) served, DER
	problem string
	success time.Time
}

func newSource(s *settings, log hclog.Logger, host sdk.Host) *source {
	return &source{
		s: s, log: log, host: host, now: time.Now,
		reported: map[string]*reported{},
		cur:      &snapshot{problems: map[string]error{}},
		changed:  make(chan struct{}),
	}
}

// current returns the snapshot to serve and a channel closed when there is
// a newer one.
func (src *source) current() (*snapshot, <-chan struct{}) {
	src.mu.Lock()
	defer src.mu.Unlock()
	return src.cur, src.changed
}

// update reads the files if they changed since the last read, serves what
// it read and reports each credential whose state changed.
func (src *source) update() {
	src.readMu.Lock()
	defer src.readMu.Unlock()
	// Taken before reading: a change made while the files are read shows
	// at the next poll, and they are read again.
	fp := fingerprint(src.paths())
	if fp == src.print {
		return
	}
	src.print = fp
	started := src.now()
	prev, _ := src.current()
	next := read(src.s, prev)
	src.report(next, started)

	src.mu.Lock()
	defer src.mu.Unlock()
	src.cur = next
	close(src.changed)
	src.changed = make(chan struct{})
}

// poll runs update every poll_interval until stop is closed.
func (src *source) poll(stop <-chan struct{}) {
	t := time.NewTicker(src.s.PollInterval.Std())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			src.update()
		}
	}
}

// paths are the files a snapshot is read from.
func (src *source) paths() []string {
	paths := []string{src.s.caCert, src.s.key, src.s.cert}
	for _, r := range src.s.roles {
		paths = append(paths, r.key, r.cert)
	}
	return paths
}

// fingerprint names what the paths lead to now: the file each name
// resolves to, its inode, size and modification time. The cert provider
// replaces every file by rename, so each change is a new inode or a new
// generation directory.
func fingerprint(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		resolved, _ := filepath.EvalSymlinks(p)
		fmt.Fprintf(&b, "%s>%s", p, resolved)
		if fi, err := os.Stat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(&b, ":%d:%d", st.Dev, st.Ino)
			}
			fmt.Fprintf(&b, ":%d:%d", fi.Size(), fi.ModTime().UnixNano())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// state is what a snapshot says of one credential, for its status record.
type state struct {
	name, kind string
	served     []byte // what is served (the certificate or the bundle, DER)
	expiry     time.Time
	problem    error
	cred       *credential // nil for the bundle
}

// report logs and reports each credential of next whose state changed:
// served anew, a new problem, or a problem gone.
func (src *source) report(next *snapshot, started time.Time) {
	states := []state{{name: bundleName, kind: "x509-bundle", served: next.bundleDER(),
		expiry: earliestExpiry(next.bundle), problem: next.problems[bundleName]}}
	names := []string{identityName}
	for _, r := range src.s.roles {
		names = append(names, r.name)
	}
	for _, name := range names {
		st := state{name: name, kind: "x509-svid", problem: next.problems[name]}
		if c := credentialNamed(next, name); c != nil {
			st.cred, st.served, st.expiry = c, c.leaf().Raw, c.leaf().NotAfter
			if st.problem == nil && c.notSVID != nil {
				st.problem = fmt.Errorf("not an X.509-SVID, so the Workload API does not serve it (SDS does): %w", c.notSVID)
			}
		}
		states = append(states, st)
	}
	for _, st := range states {
		src.reportOne(st, started)
	}
}

func credentialNamed(s *snapshot, name string) *credential {
	if name == identityName {
		return s.identity
	}
	return s.role(name)
}

// reportOne reports one credential if its state changed.
func (src *source) reportOne(st state, started time.Time) {
	r := src.reported[st.name]
	if r == nil {
		r = &reported{}
		src.reported[st.name] = r
	}
	var msg string
	if st.problem != nil {
		msg = st.problem.Error()
	}
	if msg == r.problem && bytes.Equal(st.served, r.served) {
		return
	}
	reason := sdk.ReasonParamsChange
	if r.success.IsZero() {
		reason = sdk.ReasonNew
	}
	now := src.now()
	if st.problem == nil {
		r.success = now
		src.logServed(st)
	} else if msg != r.problem {
		src.log.Warn("Cannot serve the "+st.name+" credential", "error", st.problem)
	}
	r.served, r.problem = st.served, msg
	rec := sdk.StatusRecord{
		Credential: statusName(st.name), Kind: st.kind, Reason: reason,
		Outcome: outcome(st.problem), Err: st.problem,
		Started: started, Duration: now.Sub(started),
		LastUpdate: r.success, Expiry: st.expiry,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := src.host.ReportStatus(ctx, rec); err != nil {
		src.log.Warn("Reporting the status failed", "credential", rec.Credential, "error", err)
	}
}

func (src *source) logServed(st state) {
	expiry := st.expiry.UTC().Format(time.RFC3339)
	if st.cred == nil {
		src.log.Info("Serving the CA bundle", "file", src.s.caCert, "expiry", expiry)
		return
	}
	src.log.Info("Serving the "+st.name+" certificate", "spiffe_id", st.cred.id.String(),
		"serial", st.cred.leaf().SerialNumber.String(), "expiry", expiry)
}

// outcome classifies a problem for a status record. A file that cannot be
// read is FILE_ERROR: sdk.Outcome takes the errno inside a *fs.PathError,
// which has a Timeout method, for a network error.
func outcome(problem error) string {
	var pathErr *fs.PathError
	if errors.As(problem, &pathErr) {
		return "FILE_ERROR"
	}
	return sdk.Outcome(problem)
}

// statusName is the credential's name in status records.
func statusName(name string) string {
	if name == bundleName {
		return name
	}
	return "x509svid/" + name
}
