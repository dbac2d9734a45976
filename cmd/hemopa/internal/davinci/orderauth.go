package davinci

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// OrderAuthorization is an authorization CRD granted at order time (pa-needed
// satisfied): what the PAS store records so that a later $submit for the
// same order finds it.
type OrderAuthorization struct {
	ID               string `json:"id"`       // the satisfied-pa-id, shaped like a PAS preAuthRef
	Patient          string `json:"patient"`  // Patient id (context.patientId)
	Order            string `json:"order"`    // the order, Type/id
	Drug             string `json:"drug"`     // Hemgenix, Beqvez or Roctavian
	Policy           string `json:"policy"`   // the deciding policy id …
	PolicyVersion    string `json:"version"`  // … and version
	Coverage         string `json:"coverage"` // Coverage reference
	Issued           string `json:"issued"`   // YYYY-MM-DD, the determination's day
	Expires          string `json:"expires,omitempty"`
	DeterminationKey string `json:"determination_key"` // davinci.Key of the determination
}

// OrderAuthorizationID is the satisfied-pa-id of an authorization: a
// PreAuthRef derived from the determination key, the order and the Coverage,
// so the same order decided on the same inputs gets the same id.
func OrderAuthorizationID(determinationKey, order, coverage string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{"hemopa-crd-auth/1", determinationKey, order, coverage}, "\x00")))
	return PreAuthRef(hex.EncodeToString(sum[:]))
}
