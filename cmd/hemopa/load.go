package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"hemopa/cmd/hemopa/internal/davinci"

	"github.com/google/uuid"
)

func init() {
	register("load", "upload bundles to a FHIR server as transactions (hemopa load --fhir-server URL FILE…)", runLoad)
}

// runLoad turns each bundle into a transaction: resources with an id are PUT
// to Type/id (client-assigned ids, so loading twice updates, never
// duplicates); resources without one are POSTed under their fullUrl.
func runLoad(ctx context.Context, args []string, env *Env) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var l liveFlags
	l.register(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if err := applyDefaults(fs, env, l.config); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("give one or more bundle files")
	}
	// Validate every file before sending anything: nothing half-loaded on bad input.
	var txs [][]byte
	var names []string
	for _, path := range fs.Args() {
		data, name, err := readInput(path, env.Stdin)
		if err != nil {
			return err
		}
		tx, n, err := toTransaction(data)
		if err != nil {
			return usagef("%s: %v", name, err)
		}
		txs, names = append(txs, tx), append(names, fmt.Sprintf("%s (%d resources)", name, n))
	}
	conn, err := connect(ctx, &l, []string{"Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
		"MedicationAdministration", "Procedure", "Claim", "ExplanationOfBenefit", "QuestionnaireResponse", "Practitioner", "PractitionerRole"}, env)
	if err != nil {
		return err
	}
	for i, tx := range txs {
		if _, err := conn.fhir.Transaction(ctx, tx); err != nil {
			return fmt.Errorf("load %s into %s: %w", names[i], conn.fhir.BaseURL(), err)
		}
		fmt.Fprintf(env.Stdout, "loaded %s\n", names[i])
	}
	return nil
}

func toTransaction(data []byte) ([]byte, int, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, 0, fmt.Errorf("invalid JSON: %v", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, 0, fmt.Errorf("not a Bundle (resourceType %q)", b.ResourceType)
	}
	var entries []any
	for i, e := range b.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil || head.ResourceType == "" {
			return nil, 0, fmt.Errorf("Bundle.entry[%d].resource: no resourceType", i)
		}
		req := davinci.O("method", "POST", "url", head.ResourceType)
		full := e.FullURL
		if head.ID != "" {
			req = davinci.O("method", "PUT", "url", head.ResourceType+"/"+head.ID)
			full = head.ResourceType + "/" + head.ID
		}
		entries = append(entries, davinci.O("fullUrl", nonEmptyOr(full, "urn:uuid:"+uuid.NewString()), "resource", e.Resource, "request", req))
	}
	tx, err := davinci.JSON(davinci.O("resourceType", "Bundle", "type", "transaction", "entry", entries), false)
	return tx, len(entries), err
}

func nonEmptyOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
