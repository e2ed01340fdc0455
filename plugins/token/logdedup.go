package token

import (
	"sync"
	"time"
)

// Bounds of the deduplication of failure lines: the same failure of the
// same token is logged at most once per logRepeatInterval, and at most
// logDedupKeys failures are followed at once.
const (
	logRepeatInterval = time.Minute
	logDedupKeys      = 4096
)

// logDedup lets a repeated log line through once per interval, and says
// how many times it was held back since the last one it let through: a
// failure that repeats at request rate must not flood the log.
type logDedup struct {
	every time.Duration
	max   int

	mu   sync.Mutex
	seen map[string]*logSeen
}

type logSeen struct {
	logged time.Time // when it was last let through
	held   int       // times held back since
}

func newLogDedup(every time.Duration, limit int) *logDedup {
	return &logDedup{every: every, max: limit, seen: make(map[string]*logSeen)}
}

// allow reports whether the line identified by key is to be logged at
// now, and how many times it was held back before.
func (d *logDedup) allow(key string, now time.Time) (ok bool, held int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.seen[key]; s != nil {
		if now.Sub(s.logged) < d.every {
			s.held++
			return false, 0
		}
		held, s.held, s.logged = s.held, 0, now
		return true, held
	}
	if len(d.seen) >= d.max {
		d.pruneLocked(now)
	}
	d.seen[key] = &logSeen{logged: now}
	return true, 0
}

// pruneLocked forgets the lines whose interval is over; if that frees
// nothing, it forgets them all (their next occurrence is logged, so the
// log stays bounded by max lines per interval).
func (d *logDedup) pruneLocked(now time.Time) {
	for k, s := range d.seen {
		if now.Sub(s.logged) >= d.every {
			delete(d.seen, k)
		}
	}
	if len(d.seen) >= d.max {
		clear(d.seen)
	}
}
