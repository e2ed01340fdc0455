package token

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// statusLock returns the lock that serialises the status calls of cred.
func (c *cache) statusLock(cred string) *sync.Mutex {
	return &c.statusMu[maphash.String(c.statusSeed, cred)%uint64(len(c.statusMu))]
}

// report hands the agent the status record of one fetch of e, unless e
// has left the cache meanwhile. On-demand tokens are optional: only the
// configured targets can make the agent unready.
func (c *cache) report(e *entry, fc call, err error) {
	if c.host == nil {
		return
	}
	rec := sdk.StatusRecord{
		Credential:  e.key.credential(),
		Kind:        e.key.Kind.String(),
		Reason:      fc.reason,
		Outcome:     sdk.Outcome(err),
		Err:         err,
		Started:     fc.started,
		Duration:    time.Since(fc.started),
		RPCDuration: fc.rpc,
		Optional:    !e.target,
	}
	if t := e.tok.Load(); t != nil {
		rec.Expiry = t.Expiry
	}
	rec.LastUpdate, rec.NextUpdate = e.times()
	if err == nil && e.target && c.files != nil {
		if f := c.files.path(e.key); f != "" {
			rec.Files = []string{f}
		}
	}

	mu := c.statusLock(rec.Credential)
	mu.Lock()
	defer mu.Unlock()
	if !c.entries.is(e) {
		return // evicted: its record is gone, and must stay gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.host.ReportStatus(ctx, rec); err != nil {
		c.log.Warn("Failed to report token status to the agent", "credential", rec.Credential, "error", err)
	}
}

// forget tells the agent, in the background, to drop the status records
// of evicted entries: their records and series leave with them. A key
// cached again meanwhile keeps its record.
func (c *cache) forget(evicted []*entry) {
	if c.host == nil || len(evicted) == 0 {
		return
	}
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		for _, e := range evicted {
			c.removeStatus(e)
		}
	}()
}

func (c *cache) removeStatus(e *entry) {
	cred := e.key.credential()
	mu := c.statusLock(cred)
	mu.Lock()
	defer mu.Unlock()
	if c.entries.peek(e.key) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.host.RemoveStatus(ctx, cred); err != nil {
		c.log.Warn("Failed to remove an evicted token's status from the agent", "credential", cred, "error", err)
		return
	}
	c.log.Debug("Removed an evicted token's status record", "credential", cred)
}
