package pas

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hemopa/cmd/hemopa/internal/davinci"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltStore is the default Store: one bbolt file.
//
// Why bbolt rather than SQLite (modernc.org/sqlite): the store is a key →
// record map plus one secondary index (claim identifier → keys), which a
// B+tree key/value store does directly; bbolt is pure Go (no cgo), small (one
// dependency, golang.org/x/sys, already in the module graph), gives ACID
// transactions with an fsync per commit, and coalesces concurrent writers
// with Batch. A transpiled SQLite would add several megabytes of code and a
// SQL layer that nothing here queries. A shared deployment implements Store
// on PostgreSQL instead (see README.md).
//
// Layout: bucket "records" maps the submission key to the Record (see
// encodeRecord); bucket "by-claim" holds "<identifier value>\x00<key>" → nil;
// bucket "order-authorizations" maps "<patient>\x00<order>\x00<drug>" to the
// authorization granted at order time, as JSON.
type BoltStore struct {
	db *bolt.DB
}

var (
	recordsBucket = []byte("records")
	claimsBucket  = []byte("by-claim")
	authsBucket   = []byte("order-authorizations")
)

// OpenBolt opens (creating it and its directory if needed) the store at path.
// A file held open by another process fails after one second instead of
// waiting.
func OpenBolt(path string) (*BoltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pas: store directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("pas: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{recordsBucket, claimsBucket, authsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("pas: initialise store %s: %w", path, err)
	}
	// Concurrent saves within 2 ms share one commit (two fsyncs); a lone save
	// waits at most that long for company (bolt's default is 10 ms).
	db.MaxBatchDelay = 2 * time.Millisecond
	return &BoltStore{db: db}, nil
}

// DefaultStorePath is where the store lives when none is configured:
// $XDG_DATA_HOME/hemopa/pas.db, else ~/.local/share/hemopa/pas.db.
func DefaultStorePath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hemopa", "pas.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("pas: no default store path (set --store): %w", err)
	}
	return filepath.Join(home, ".local", "share", "hemopa", "pas.db"), nil
}

// Close releases the file.
func (b *BoltStore) Close() error { return b.db.Close() }

func claimKey(value, key string) []byte {
	k := make([]byte, 0, len(value)+1+len(key))
	k = append(k, value...)
	k = append(k, 0)
	return append(k, key...)
}

// Save implements Store. Concurrent saves share one commit (bolt Batch).
func (b *BoltStore) Save(ctx context.Context, key string, rec *Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	val, err := encodeRecord(rec)
	if err != nil {
		return fmt.Errorf("pas: encode record: %w", err)
	}
	err = b.db.Batch(func(tx *bolt.Tx) error {
		if err := tx.Bucket(recordsBucket).Put([]byte(key), val); err != nil {
			return err
		}
		idx := tx.Bucket(claimsBucket)
		for _, id := range rec.Claim {
			if err := idx.Put(claimKey(id.Value, key), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pas: save submission: %w", err)
	}
	return nil
}

// Load implements Store.
func (b *BoltStore) Load(ctx context.Context, key string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rec *Record
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx, []byte(key))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("pas: load submission: %w", err)
	}
	return rec, nil
}

func getRecord(tx *bolt.Tx, key []byte) (*Record, error) {
	v := tx.Bucket(recordsBucket).Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	rec, err := decodeRecord(v) // copies: v is only valid inside the transaction
	if err != nil {
		return nil, fmt.Errorf("decode record %s: %w", key, err)
	}
	return rec, nil
}

// recordFormat is the first byte of a stored record.
const recordFormat = 1

// encodeRecord frames a record as: format byte, uvarint length + the Record
// as JSON without its responses, uvarint length + the submit response, the
// inquiry response. The responses are stored as they are, so loading one is
// a copy, not a JSON parse.
func encodeRecord(rec *Record) ([]byte, error) {
	meta := *rec
	meta.Response, meta.Inquiry = nil, nil
	m, err := json.Marshal(&meta)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(m)+len(rec.Response)+len(rec.Inquiry))
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(len(m)))
	b = append(b, m...)
	b = binary.AppendUvarint(b, uint64(len(rec.Response)))
	b = append(b, rec.Response...)
	return append(b, rec.Inquiry...), nil
}

func decodeRecord(v []byte) (*Record, error) {
	if len(v) == 0 || v[0] != recordFormat {
		return nil, errors.New("unknown record format")
	}
	v = v[1:]
	chunk := func() ([]byte, error) {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			return nil, errors.New("truncated record")
		}
		c := v[k : k+int(n)]
		v = v[k+int(n):]
		return c, nil
	}
	m, err := chunk()
	if err != nil {
		return nil, err
	}
	resp, err := chunk()
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(m, &rec); err != nil {
		return nil, err
	}
	rec.Response = bytes.Clone(resp)
	rec.Inquiry = bytes.Clone(v)
	return &rec, nil
}

// ListByClaim implements Store.
func (b *BoltStore) ListByClaim(ctx context.Context, value string) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := claimKey(value, "")
	var out []*Record
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(claimsBucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rec, err := getRecord(tx, k[len(prefix):])
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if rec.hasClaimValue(value) {
				out = append(out, rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pas: list submissions by claim: %w", err)
	}
	return out, nil
}

// RecordAuthorization implements Store.
func (b *BoltStore) RecordAuthorization(ctx context.Context, a davinci.OrderAuthorization) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	val, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("pas: encode authorization: %w", err)
	}
	err = b.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(authsBucket).Put([]byte(authorizationKey(a.Patient, a.Order, a.Drug)), val)
	})
	if err != nil {
		return fmt.Errorf("pas: record authorization: %w", err)
	}
	return nil
}

// OrderAuthorization implements Store.
func (b *BoltStore) OrderAuthorization(ctx context.Context, patient, order, drug string) (*davinci.OrderAuthorization, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var a *davinci.OrderAuthorization
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(authsBucket).Get([]byte(authorizationKey(patient, order, drug)))
		if v == nil {
			return ErrNoAuthorization
		}
		a = &davinci.OrderAuthorization{}
		return json.Unmarshal(v, a)
	})
	if errors.Is(err, ErrNoAuthorization) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("pas: load authorization: %w", err)
	}
	return a, nil
}
