package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
)

var (
	// ErrTooManyPages is returned (wrapped) when a search has more pages
	// than WithMaxPages allows; no partial result is returned.
	ErrTooManyPages = errors.New("too many pages")
	// ErrForeignLink is returned (wrapped) when a Bundle next link points
	// outside the client's base URL (another scheme, host, port or path).
	ErrForeignLink = errors.New("next link leaves the server base")
)

// ObservationCategorySystem is the code system of the FHIR R4
// Observation.category codes (laboratory, vital-signs, imaging, exam, …):
// http://hl7.org/fhir/R4/codesystem-observation-category.html.
const ObservationCategorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"

// ObservationCategories returns the search token list for Observation's
// category parameter: "system|code" for each code, comma-separated (one
// search, OR of the codes).
func ObservationCategories(codes ...string) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = ObservationCategorySystem + "|" + c
	}
	return strings.Join(parts, ",")
}

// pageBundle is the part of a Bundle this client needs to page and to
// unwrap batch responses; resources stay raw for the decoder.
type pageBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
		Search   *struct {
			Mode string `json:"mode"`
		} `json:"search"`
		Response *struct {
			Status   string          `json:"status"`
			Location string          `json:"location"`
			Outcome  json.RawMessage `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

func (b *pageBundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

func parsePageBundle(data []byte, wantType string) (*pageBundle, error) {
	var b pageBundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("parse Bundle: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("parse Bundle: resourceType is %q", b.ResourceType)
	}
	if b.Type != wantType {
		return nil, fmt.Errorf("parse Bundle: type is %q, want %q", b.Type, wantType)
	}
	return &b, nil
}

// Search runs a search given relative to the base (e.g.
// "Observation?patient=p1&code=http://loinc.org|3187-2&_count=1000") and
// returns the resources of all pages, in order: it follows
// Bundle.link[relation=next] as given by the server (HAPI's
// "?_getpages=…"), which must stay under the base URL ([ErrForeignLink]), up
// to the page limit ([ErrTooManyPages]). A search is never truncated: past
// the page limit it fails, with no partial result, so a caller deciding on a
// patient's record never decides on part of it without knowing. Entries with search.mode=outcome are
// not returned; their issues are logged at Warn (severity and code only).
//
// Each page is one round trip. Characters not allowed in a URL query, such
// as "|", are percent-encoded before sending.
func (c *Client) Search(ctx context.Context, pathAndQuery string) ([]json.RawMessage, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	u, target, err := c.resolve(pathAndQuery)
	if err != nil {
		return nil, fmt.Errorf("fhir: search: %w", err)
	}
	return c.search(ctx, u, target)
}

// Everything runs Patient/{id}/$everything with optional params (e.g.
// _type, _since, _count) and returns the resources of all pages, as Search.
func (c *Client) Everything(ctx context.Context, patientID string, params url.Values) ([]json.RawMessage, error) {
	if patientID == "" {
		return nil, errors.New("fhir: $everything: empty patient id")
	}
	if err := checkTypeAndID("Patient", patientID); err != nil {
		return nil, fmt.Errorf("fhir: $everything: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	target := "Patient/" + patientID + "/$everything"
	if len(params) > 0 {
		target += "?" + params.Encode()
	}
	u, target, err := c.resolve(target)
	if err != nil {
		return nil, fmt.Errorf("fhir: $everything: %w", err)
	}
	return c.search(ctx, u, target)
}

func (c *Client) search(ctx context.Context, u *url.URL, target string) ([]json.RawMessage, error) {
	res, err := c.do(ctx, http.MethodGet, u, target, nil, nil, true)
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	b, err := parsePageBundle(res.body, "searchset")
	if err != nil {
		return nil, fmt.Errorf("fhir: search %s: %w", target, err)
	}
	out, err := c.follow(ctx, target, b, u)
	if err != nil {
		return nil, fmt.Errorf("fhir: search %s: %w", target, err)
	}
	return out, nil
}

// follow returns the resources of the searchset b (fetched from from) and of
// the pages its next links lead to. label names the search in logs and
// errors (base-relative, possibly holding identifiers: redact for logs).
func (c *Client) follow(ctx context.Context, label string, b *pageBundle, from *url.URL) ([]json.RawMessage, error) {
	seen := map[string]bool{from.String(): true}
	var out []json.RawMessage
	for page := 1; ; page++ {
		out = c.appendEntries(ctx, out, label, page, b)
		next := b.next()
		if next == "" {
			c.log.LogAttrs(ctx, slog.LevelDebug, "fhir: search done",
				slog.String("search", redactTarget(label)), slog.Int("pages", page),
				slog.Int("resources", len(out)))
			return out, nil
		}
		if page >= c.maxPages {
			return nil, fmt.Errorf("%w: more than %d page(s), %d resources so far", ErrTooManyPages, c.maxPages, len(out))
		}
		nu, err := c.nextURL(from, next)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page+1, err)
		}
		if seen[nu.String()] {
			return nil, fmt.Errorf("page %d: next link repeats an earlier page", page+1)
		}
		seen[nu.String()] = true
		target := c.relativeTo(nu)
		res, err := c.do(ctx, http.MethodGet, nu, target, nil, nil, true)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", page+1, err)
		}
		if b, err = parsePageBundle(res.body, "searchset"); err != nil {
			return nil, fmt.Errorf("page %d: %w", page+1, err)
		}
		from = nu
	}
}

// appendEntries appends b's resources to out, logging outcome entries.
func (c *Client) appendEntries(ctx context.Context, out []json.RawMessage, label string, page int, b *pageBundle) []json.RawMessage {
	for _, e := range b.Entry {
		if e.Search != nil && e.Search.Mode == "outcome" {
			c.logOutcome(ctx, label, page, e.Resource)
			continue
		}
		if len(e.Resource) == 0 {
			continue
		}
		out = append(out, e.Resource)
	}
	return out
}

func (c *Client) logOutcome(ctx context.Context, label string, page int, raw json.RawMessage) {
	o := outcomeOrNil(raw)
	if o == nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "fhir: search outcome entry is not an OperationOutcome",
			slog.String("search", redactTarget(label)), slog.Int("page", page))
		return
	}
	for _, is := range o.Issues {
		// Severity, code and expression only: diagnostics may quote PHI.
		c.log.LogAttrs(ctx, slog.LevelWarn, "fhir: search returned an issue",
			slog.String("search", redactTarget(label)), slog.Int("page", page),
			slog.String("severity", is.Severity), slog.String("code", is.Code),
			slog.Any("expression", is.Expression))
	}
}

// nextURL resolves a next link against the page it came from and checks it
// stays on this server under the base path. HAPI builds next links from the
// request's Host header (or its configured server_address), so behind a
// proxy they only pass when the proxy preserves Host.
func (c *Client) nextURL(from *url.URL, link string) (*url.URL, error) {
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("next link: %w", err)
	}
	u := from.ResolveReference(ref)
	u.Fragment = ""
	basePath := strings.TrimSuffix(c.base.EscapedPath(), "/")
	p := u.EscapedPath()
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || hostPort(u) != hostPort(c.base) || u.User != nil ||
		(p != basePath && !strings.HasPrefix(p, basePath+"/")) {
		// Only the origin and path go in the message: the query may
		// hold a server-side search id, harmless, but keep it short.
		return nil, fmt.Errorf("%w: %s://%s%s is not under %s", ErrForeignLink, u.Scheme, u.Host, u.Path, c.base)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return nil, fmt.Errorf("%w: dot segment in %s", ErrForeignLink, u.Path)
		}
	}
	return u, nil
}

// hostPort returns "host:port" in lower case with the scheme's default port
// made explicit.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
