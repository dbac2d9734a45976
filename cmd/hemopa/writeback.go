package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"hemopa/cmd/hemopa/internal/davinci"
	"hemopa/mapping"
	"hemopa/rules"
)

func init() {
	register("outbox", "retry write-backs kept in the outbox (outbox flush | outbox list)", runOutbox)
}

// writeBackBundle is the transaction that writes one determination: a
// ClaimResponse, the evaluated criteria as a QuestionnaireResponse and, when
// pended, a Task for the missing documentation. Each entry is a conditional
// create on the determination's identifier, so sending it again creates
// nothing new; the transaction makes it all-or-nothing.
func writeBackBundle(chart *mapping.Chart, det *rules.Determination, now time.Time) (key string, body []byte, err error) {
	key = davinci.Key(chart.Patient, det, chart.Facts)
	subj := davinci.Subject{Patient: chart.Patient, Created: now}
	var entries []any
	add := func(typ string, res *davinci.Object, idValue string) {
		if res == nil {
			return
		}
		entries = append(entries, davinci.O(
			"fullUrl", "urn:uuid:"+davinci.NameUUID(idValue),
			"resource", res,
			"request", davinci.O("method", "POST", "url", typ,
				"ifNoneExist", "identifier="+davinci.IdentifierSystem+"|"+idValue)))
	}
	add("ClaimResponse", davinci.ClaimResponse(det, subj, key), key)
	add("QuestionnaireResponse", davinci.CriteriaResponse(det, subj, key), key+"-criteria")
	add("Task", davinci.DocumentationTask(det, subj, key), key+"-task")
	tx := davinci.O("resourceType", "Bundle", "type", "transaction", "entry", entries)
	body, err = davinci.JSON(tx, false)
	return key, body, err
}

// writeBack sends one determination; if the server cannot take it after the
// client's retries, the transaction goes to the outbox and the error says so.
func writeBack(ctx context.Context, conn *liveConn, ob outbox, chart *mapping.Chart, det *rules.Determination) error {
	key, body, err := writeBackBundle(chart, det, time.Now().UTC())
	if err != nil {
		return err
	}
	if _, err := conn.fhir.Transaction(ctx, body); err != nil {
		path, saveErr := ob.save(outboxItem{Server: conn.fhir.BaseURL(), Key: key, Policy: det.Policy, Created: time.Now().UTC(), Bundle: body})
		if saveErr != nil {
			return fmt.Errorf("write-back of %s to %s failed (%v) and the outbox could not keep it: %w", det.Policy, conn.fhir.BaseURL(), err, saveErr)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("write-back of %s to %s failed: %v; kept in %s (run 'hemopa outbox flush')", det.Policy, conn.fhir.BaseURL(), err, path)}
	}
	conn.log.Info("written back", "policy", det.Policy, "key", key, "decision", string(det.Decision))
	return nil
}

// outbox keeps undelivered write-backs as files, one per determination,
// written atomically (temp file + rename) so a crash leaves no half file.
type outbox struct{ dir string }

type outboxItem struct {
	Server  string          `json:"server"`
	Key     string          `json:"key"`
	Policy  string          `json:"policy"`
	Created time.Time       `json:"created"`
	Bundle  json.RawMessage `json:"bundle"`
}

func (o outbox) save(it outboxItem) (string, error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return "", err
	}
	b, err := json.Marshal(it)
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.dir, it.Key+".json")
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func (o outbox) list() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(o.dir, "*.json"))
	sort.Strings(files)
	return files, err
}

func runOutbox(ctx context.Context, args []string, env *Env) error {
	if len(args) == 0 {
		return usagef("usage: hemopa outbox flush|list [--outbox DIR] [--fhir-server URL …]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("outbox "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var l liveFlags
	l.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{code: 2}
	}
	if err := applyDefaults(fs, env, l.config); err != nil {
		return err
	}
	ob := outbox{dir: l.outbox}
	files, err := ob.list()
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		for _, f := range files {
			fmt.Fprintln(env.Stdout, f)
		}
		return nil
	case "flush":
	default:
		return usagef("unknown outbox command %q (flush, list)", sub)
	}
	if len(files) == 0 {
		fmt.Fprintln(env.Stdout, "outbox empty")
		return nil
	}
	conns := map[string]*liveConn{}
	sent, failed := 0, 0
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var it outboxItem
		if err := json.Unmarshal(b, &it); err != nil {
			return usagef("%s: not an outbox item: %v", path, err)
		}
		server := it.Server
		if l.server != "" {
			server = l.server
		}
		conn := conns[server]
		if conn == nil {
			ll := l
			ll.server, ll.writeBack = server, true
			if conn, err = connect(ctx, &ll, []string{"ClaimResponse", "QuestionnaireResponse", "Task"}, env); err != nil {
				return err
			}
			conns[server] = conn
		}
		if _, err := conn.fhir.Transaction(ctx, it.Bundle); err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "hemopa outbox: %s (%s): %v\n", filepath.Base(path), it.Policy, oneLine(err.Error()))
			continue
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		sent++
	}
	fmt.Fprintf(env.Stdout, "outbox: %d delivered, %d still pending\n", sent, failed)
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d write-back(s) still in %s", failed, l.outbox)}
	}
	return nil
}
