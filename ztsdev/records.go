package ztsdev

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sia-agent/sia-agent/sdk"
)

// revokedSerial marks a record whose certificate was presented with an
// unknown serial: ZTS then refuses every refresh until a new register.
const revokedSerial = "-1"

// certRecord is ZTS's X509CertRecord: what refresh checks the presented
// certificate against.
type certRecord struct {
	Provider      string    `json:"provider"`
	InstanceID    string    `json:"instanceId"`
	Service       string    `json:"service"` // domain.service
	CurrentSerial string    `json:"currentSerial"`
	PrevSerial    string    `json:"prevSerial,omitempty"`
	CurrentIP     string    `json:"currentIP,omitempty"`
	PrevIP        string    `json:"prevIP,omitempty"`
	Hostname      string    `json:"hostname,omitempty"`
	Expiry        time.Time `json:"expiry"`
	Updated       time.Time `json:"updated"`
}

type recordKey struct{ provider, instanceID, service string }

func (r *certRecord) key() recordKey { return recordKey{r.Provider, r.InstanceID, r.Service} }

// recordStore keeps cert records in memory and in a JSON file in the state
// dir, so that instances keep refreshing across zts-dev restarts.
type recordStore struct {
	path string
	mu   sync.Mutex
	recs map[recordKey]certRecord
}

func openRecordStore(path string) (*recordStore, error) {
	s := &recordStore{path: path, recs: make(map[recordKey]certRecord)}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading cert records: %w", err)
	}
	var recs []certRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("parsing cert records %s (delete it to start afresh): %w", path, err)
	}
	for _, r := range recs {
		s.recs[r.key()] = r
	}
	return s, nil
}

// update runs fn on the record for k (nil if there is none) under the
// store lock. A non-nil record returned by fn replaces the stored one and
// is persisted even when fn also returns an error (a revocation is both).
func (s *recordStore) update(k recordKey, fn func(cur *certRecord) (*certRecord, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *certRecord
	if r, ok := s.recs[k]; ok {
		cur = &r
	}
	next, fnErr := fn(cur)
	if next != nil {
		s.recs[k] = *next
		if err := s.saveLocked(); err != nil {
			return errors.Join(fnErr, err)
		}
	}
	return fnErr
}

func (s *recordStore) delete(k recordKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recs[k]; !ok {
		return nil
	}
	delete(s.recs, k)
	return s.saveLocked()
}

func (s *recordStore) saveLocked() error {
	recs := slices.SortedFunc(maps.Values(s.recs), func(a, b certRecord) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Service, b.Service), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	data, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding cert records: %w", err)
	}
	return sdk.WriteFileAtomic(s.path, data, 0o600)
}
