package pas

import (
	"context"
	"encoding/json"
	"errors"
	"hemopa/cmd/hemopa/internal/davinci"
	"slices"
	"sync"
	"time"
)

// ErrNotFound is returned by Store.Load for an unknown key.
var ErrNotFound = errors.New("pas: no such submission")

// Record is one adjudicated submission as persisted: the responses exactly
// as returned, and what $inquire matches on.
type Record struct {
	Key        string       `json:"key"` // submission key (digest of the request's entries)
	PreAuthRef string       `json:"pre_auth_ref"`
	Claim      []Identifier `json:"claim_identifiers"`
	Patient    PatientMatch `json:"patient"`
	Created    time.Time    `json:"created"`
	Outcome    string       `json:"outcome"`
	Items      []ItemRecord `json:"items"`

	// Response is the $submit response bundle; Inquiry the same ClaimResponse
	// profiled as an inquiry response, returned by $inquire.
	Response json.RawMessage `json:"response,omitempty"`
	Inquiry  json.RawMessage `json:"inquiry,omitempty"`
}

// PatientMatch is how a later inquiry is matched to the submission's patient.
type PatientMatch struct {
	ID          string       `json:"id,omitempty"` // Patient.id
	Identifiers []Identifier `json:"identifiers,omitempty"`
}

// ItemRecord is the decision on one claim line.
type ItemRecord struct {
	Sequence         int    `json:"sequence"`
	Drug             string `json:"drug,omitempty"`
	Policy           string `json:"policy,omitempty"`
	PolicyVersion    string `json:"policy_version,omitempty"`
	Decision         string `json:"decision"` // approve, pend, deny, not-covered, or not-reviewed
	ReviewAction     string `json:"review_action"`
	FollowsItem      int    `json:"follows_item,omitempty"`
	DeterminationKey string `json:"determination_key,omitempty"`

	// Determination is the evaluated policy as JSON (rules.Determination,
	// with the evidence for every criterion: the audit trail); absent for
	// lines not reviewed and for lines that follow another line's decision.
	Determination json.RawMessage `json:"determination,omitempty"`
}

// Store persists adjudicated submissions. Implementations must be safe for
// concurrent use. Save overwrites a record with the same key (the service
// saves a key once, under a lock); ListByClaim returns every record one of
// whose Claim identifiers has the value, in any order.
type Store interface {
	Save(ctx context.Context, key string, rec *Record) error
	Load(ctx context.Context, key string) (*Record, error) // ErrNotFound if unknown
	ListByClaim(ctx context.Context, identifierValue string) ([]*Record, error)
	// RecordAuthorization keeps an authorization granted at order time (CRD
	// pa-needed satisfied), replacing the one for the same patient, order
	// and drug; OrderAuthorization finds it (ErrNoAuthorization if none).
	RecordAuthorization(ctx context.Context, a davinci.OrderAuthorization) error
	OrderAuthorization(ctx context.Context, patient, order, drug string) (*davinci.OrderAuthorization, error)
}

// MemStore is a Store in memory, for tests and one-shot runs.
type MemStore struct {
	mu    sync.RWMutex
	recs  map[string]*Record
	auths map[string]davinci.OrderAuthorization
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{recs: map[string]*Record{}, auths: map[string]davinci.OrderAuthorization{}}
}

// Save implements Store.
func (m *MemStore) Save(ctx context.Context, key string, rec *Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *rec
	m.mu.Lock()
	m.recs[key] = &c
	m.mu.Unlock()
	return nil
}

// Load implements Store.
func (m *MemStore) Load(ctx context.Context, key string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.recs[key]
	if !ok {
		return nil, ErrNotFound
	}
	c := *r
	return &c, nil
}

// ListByClaim implements Store.
func (m *MemStore) ListByClaim(ctx context.Context, value string) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Record
	for _, r := range m.recs {
		if r.hasClaimValue(value) {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (r *Record) hasClaimValue(v string) bool {
	return slices.ContainsFunc(r.Claim, func(id Identifier) bool { return id.Value == v })
}

// RecordAuthorization implements Store.
func (m *MemStore) RecordAuthorization(ctx context.Context, a davinci.OrderAuthorization) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.auths[authorizationKey(a.Patient, a.Order, a.Drug)] = a
	m.mu.Unlock()
	return nil
}

// OrderAuthorization implements Store.
func (m *MemStore) OrderAuthorization(ctx context.Context, patient, order, drug string) (*davinci.OrderAuthorization, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.auths[authorizationKey(patient, order, drug)]
	if !ok {
		return nil, ErrNoAuthorization
	}
	return &a, nil
}
