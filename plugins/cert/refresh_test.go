package cert

import (
	"testing"
	"time"
)

func TestNextDue(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		s        schedule
		notAfter time.Time
		want     time.Duration
	}{
		{"auto: half the remaining lifetime", schedule{minInterval: time.Minute}, now.Add(day), 12 * time.Hour},
		{"interval sooner than half", schedule{interval: time.Hour, minInterval: time.Minute}, now.Add(day), time.Hour},
		{"half sooner than interval", schedule{interval: 20 * time.Hour, minInterval: time.Minute}, now.Add(day), 12 * time.Hour},
		{"never sooner than the minimum", schedule{minInterval: time.Minute}, now.Add(time.Minute), time.Minute},
		{"none yet: the minimum", schedule{interval: time.Hour, minInterval: 10 * time.Second}, time.Time{}, 10 * time.Second},
		{"expired: the minimum", schedule{minInterval: 10 * time.Second}, now.Add(-time.Hour), 10 * time.Second},
	} {
		if got := tc.s.nextDue(now, tc.notAfter).Sub(now); got != tc.want {
			t.Errorf("%s: due in %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsDueAndWait(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := schedule{minInterval: time.Minute, jitter: 0.1}
	at := func(due time.Duration) *credential {
		return &credential{scheduled: now.Add(-10 * time.Hour), due: now.Add(due)}
	}
	for due, want := range map[time.Duration]bool{
		-time.Second:     true,
		30 * time.Second: true, // before the next refresh could come
		time.Hour:        true, // within what jitter may take off 11h
		2 * time.Hour:    false,
	} {
		if got := s.isDue(at(due), now); got != want {
			t.Errorf("due in %v: isDue %v, want %v", due, got, want)
		}
	}

	creds := []*credential{at(3 * time.Hour), at(2 * time.Hour), at(5 * time.Hour)}
	for range 100 {
		w := s.wait(creds, now)
		if w > 2*time.Hour || w < 2*time.Hour-12*time.Minute {
			t.Fatalf("wait %v, want the earliest (2h) less at most 10%% jitter", w)
		}
	}
	if w := s.wait([]*credential{at(-time.Hour)}, now); w != time.Minute {
		t.Errorf("overdue: wait %v, want the minimum interval", w)
	}
}
