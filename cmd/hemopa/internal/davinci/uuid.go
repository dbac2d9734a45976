package davinci

import "github.com/google/uuid"

// idNamespace is the UUID namespace of hemopa's name-based ids: the SHA-1
// (version 5) UUID of the product's identifier system URL.
var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte(IdentifierSystem))

// NameUUID is the stable RFC 9562 version-5 UUID of a name (a determination
// key, a submission key): the same name always gives the same urn:uuid, so a
// re-sent resource keeps its fullUrl.
func NameUUID(name string) string { return uuid.NewSHA1(idNamespace, []byte(name)).String() }
