package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// MIMEType is the FHIR JSON media type sent in Accept and Content-Type.
const MIMEType = "application/fhir+json"

// Defaults used when the corresponding ClientOption is not given.
const (
	DefaultRetryMax         = 4
	DefaultRetryWaitMin     = 250 * time.Millisecond
	DefaultRetryWaitMax     = 8 * time.Second
	DefaultTimeout          = 2 * time.Minute
	DefaultMaxPages         = 100
	DefaultMaxResponseBytes = 64 << 20
)

// Client talks to one FHIR R4 server. It is safe for concurrent use.
//
// Every method sends Accept: application/fhir+json, retries connection
// errors, 429 and 5xx (except 501) with backoff honouring Retry-After, and
// returns non-2xx answers as [*Error]. Bodies are never logged.
type Client struct {
	base     *url.URL // no trailing slash, no query
	rc       *retryablehttp.Client
	policy   retryablehttp.CheckRetry
	timeout  time.Duration
	maxPages int
	maxBody  int64
	log      *slog.Logger

	roundTrips atomic.Int64
	attempts   atomic.Int64
}

type clientConfig struct {
	httpClient *http.Client
	retryMax   int
	waitMin    time.Duration
	waitMax    time.Duration
	checkRetry retryablehttp.CheckRetry
	backoff    retryablehttp.Backoff
	timeout    time.Duration
	maxPages   int
	maxBody    int64
	logger     *slog.Logger
}

// ClientOption configures a [Client] in [NewClient].
type ClientOption func(*clientConfig)

// WithHTTPClient sets the underlying HTTP client (nil means a pooled client
// from go-cleanhttp). Its transport may carry SMART authorization and retry a
// 401 once itself; this client never retries a 401. The client is not
// modified.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) { c.httpClient = hc }
}

// WithRetryMax sets how many times a request is retried after the first
// attempt ([DefaultRetryMax]; 0 disables retries).
func WithRetryMax(n int) ClientOption {
	return func(c *clientConfig) { c.retryMax = n }
}

// WithRetryWait sets the bounds passed to the Backoff policy
// ([DefaultRetryWaitMin], [DefaultRetryWaitMax]). The default backoff doubles
// from min up to max, but waits what Retry-After says on 429 and 503.
func WithRetryWait(min, max time.Duration) ClientOption {
	return func(c *clientConfig) { c.waitMin, c.waitMax = min, max }
}

// WithCheckRetry replaces the retry policy (default
// retryablehttp.DefaultRetryPolicy: connection errors, 429, 5xx but 501).
// Whatever it answers, the client never retries a 401, a response too large
// to read, nor a non-idempotent request (Transaction) unless the answer was
// 429 or the connection could not be dialled, since the server may already
// have applied it.
func WithCheckRetry(p retryablehttp.CheckRetry) ClientOption {
	return func(c *clientConfig) { c.checkRetry = p }
}

// WithBackoff replaces the wait policy between retries (default
// retryablehttp.DefaultBackoff).
func WithBackoff(b retryablehttp.Backoff) ClientOption {
	return func(c *clientConfig) { c.backoff = b }
}

// WithTimeout bounds each method call as a whole — all its attempts, waits
// and pages ([DefaultTimeout]; 0 leaves only the caller's context).
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.timeout = d }
}

// WithMaxPages caps the pages one search may span, counting the first
// ([DefaultMaxPages]). A search with more pages fails with [ErrTooManyPages]
// rather than returning a truncated result.
func WithMaxPages(n int) ClientOption {
	return func(c *clientConfig) { c.maxPages = n }
}

// WithMaxResponseBytes caps the size of one response body
// ([DefaultMaxResponseBytes]).
func WithMaxResponseBytes(n int64) ClientOption {
	return func(c *clientConfig) { c.maxBody = n }
}

// WithLogger sets where the client logs (nil: nowhere). It logs methods,
// resource types, ids, counts, status codes and attempts at Debug, retries at
// Info and OperationOutcome entries of search results at Warn; search
// parameter values are redacted and bodies never logged.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *clientConfig) { c.logger = l }
}

// NewClient returns a client for the FHIR server at baseURL (e.g.
// "http://localhost:8080/fhir").
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("fhir: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fhir: base URL %q: want an absolute http(s) URL", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("fhir: base URL %q: must not carry a query, fragment or user info", baseURL)
	}
	cfg := clientConfig{
		retryMax: DefaultRetryMax,
		waitMin:  DefaultRetryWaitMin,
		waitMax:  DefaultRetryWaitMax,
		timeout:  DefaultTimeout,
		maxPages: DefaultMaxPages,
		maxBody:  DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.retryMax < 0:
		return nil, fmt.Errorf("fhir: retry max %d < 0", cfg.retryMax)
	case cfg.waitMin < 0 || cfg.waitMax < cfg.waitMin:
		return nil, fmt.Errorf("fhir: retry wait [%v, %v] is not a range", cfg.waitMin, cfg.waitMax)
	case cfg.timeout < 0:
		return nil, fmt.Errorf("fhir: timeout %v < 0", cfg.timeout)
	case cfg.maxPages < 1:
		return nil, fmt.Errorf("fhir: max pages %d < 1", cfg.maxPages)
	case cfg.maxBody < 1:
		return nil, fmt.Errorf("fhir: max response bytes %d < 1", cfg.maxBody)
	}
	if cfg.httpClient == nil {
		cfg.httpClient = cleanhttp.DefaultPooledClient()
	}
	if cfg.checkRetry == nil {
		cfg.checkRetry = retryablehttp.DefaultRetryPolicy
	}
	if cfg.backoff == nil {
		cfg.backoff = retryablehttp.DefaultBackoff
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		base:     u,
		policy:   cfg.checkRetry,
		timeout:  cfg.timeout,
		maxPages: cfg.maxPages,
		maxBody:  cfg.maxBody,
		log:      cfg.logger,
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:     cfg.httpClient,
		Logger:         nil, // it would log full URLs, query strings included
		RetryWaitMin:   cfg.waitMin,
		RetryWaitMax:   cfg.waitMax,
		RetryMax:       cfg.retryMax,
		RequestLogHook: c.beforeAttempt,
		CheckRetry:     c.checkRetry,
		Backoff:        cfg.backoff,
		// Hand back the last response or error as is: do turns them into
		// *Error (keeping the status and OperationOutcome) or a wrapped error.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return c, nil
}

// BaseURL returns the server base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// RoundTrips returns how many logical HTTP exchanges this client has made:
// one per read, per search page, per batch or transaction POST, whatever
// number of attempts each took. See [Track] to count per operation.
func (c *Client) RoundTrips() int64 { return c.roundTrips.Load() }

// Attempts returns how many HTTP requests this client has handed to its
// transport, retries included (so Attempts() ≥ RoundTrips()). Requests a
// transport re-sends by itself (an auth transport's 401 retry) are not seen.
func (c *Client) Attempts() int64 { return c.attempts.Load() }

// Tally counts the round trips and attempts made with a context returned by
// [Track], e.g. for one evaluation. It is safe for concurrent use; a nil
// *Tally reads as zero.
type Tally struct {
	parent     *Tally
	roundTrips atomic.Int64
	attempts   atomic.Int64
}

type tallyKey struct{}

// Track returns a context whose client calls are counted in the returned
// Tally. Tallies nest: calls also count in any Tally of ctx.
func Track(ctx context.Context) (context.Context, *Tally) {
	t := &Tally{parent: tallyFrom(ctx)}
	return context.WithValue(ctx, tallyKey{}, t), t
}

func tallyFrom(ctx context.Context) *Tally {
	t, _ := ctx.Value(tallyKey{}).(*Tally)
	return t
}

// RoundTrips returns the logical exchanges counted, as [Client.RoundTrips].
func (t *Tally) RoundTrips() int64 {
	if t == nil {
		return 0
	}
	return t.roundTrips.Load()
}

// Attempts returns the HTTP requests counted, as [Client.Attempts].
func (t *Tally) Attempts() int64 {
	if t == nil {
		return 0
	}
	return t.attempts.Load()
}

func (t *Tally) add(roundTrips, attempts int64) {
	for ; t != nil; t = t.parent {
		t.roundTrips.Add(roundTrips)
		t.attempts.Add(attempts)
	}
}

type noCacheKey struct{}

// NoCache returns a context whose reads, searches and batches of searches
// send Cache-Control: no-cache, so HAPI does not answer a search from results
// cached in the last minute. Use it when reading right after writing.
func NoCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

// exchange is the per-request state shared with the retry hooks through the
// request context. The hooks run on the goroutine calling Do.
type exchange struct {
	method     string
	target     string // base-relative, for errors; redact before logging
	idempotent bool
	tally      *Tally
	attempts   int
	lastStatus int // status of the previous attempt, 0 if it failed to connect
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// beforeAttempt is retryablehttp's RequestLogHook: it runs before every
// attempt, so it is where requests are counted.
func (c *Client) beforeAttempt(_ retryablehttp.Logger, req *http.Request, retry int) {
	rt := int64(0)
	if retry == 0 {
		rt = 1
	}
	c.roundTrips.Add(rt)
	c.attempts.Add(1)
	x := exchangeFrom(req.Context())
	if x == nil {
		return
	}
	x.tally.add(rt, 1)
	x.attempts++
	if retry > 0 {
		c.log.LogAttrs(req.Context(), slog.LevelInfo, "fhir: retrying",
			slog.String("method", x.method), slog.String("target", redactTarget(x.target)),
			slog.Int("attempt", x.attempts), slog.Int("previous_status", x.lastStatus))
	}
}

var errBodyTooLarge = errors.New("response body exceeds the size limit")

// checkRetry applies the configured policy, then the limits no policy may
// lift (see WithCheckRetry).
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	x := exchangeFrom(ctx)
	if x != nil {
		x.lastStatus = 0
		if resp != nil {
			x.lastStatus = resp.StatusCode
		}
	}
	retry, perr := c.policy(ctx, resp, err)
	if !retry {
		return false, perr
	}
	switch {
	case resp != nil && resp.StatusCode == http.StatusUnauthorized:
		return false, perr
	case errors.Is(err, errBodyTooLarge):
		return false, perr
	case isFinal(err):
		return false, perr
	case x != nil && !x.idempotent:
		return (resp != nil && resp.StatusCode == http.StatusTooManyRequests) || isDialError(err), perr
	}
	return true, perr
}

// isFinal reports an error its maker says retrying cannot fix, such as an
// authorization server refusing the client (auth.TokenError with a 4xx):
// errors with a Retryable() bool method that returns false.
func isFinal(err error) bool {
	var r interface{ Retryable() bool }
	return err != nil && errors.As(err, &r) && !r.Retryable()
}

// isDialError reports whether the request never reached a server.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// response is a completed exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one logical request with retries. target is u relative to the
// base (for errors and logs). A non-2xx answer is returned as *Error; errors
// carry no "fhir:" prefix, the public methods add it.
func (c *Client) do(ctx context.Context, method string, u *url.URL, target string, body []byte, hdr http.Header, idempotent bool) (*response, error) {
	x := &exchange{method: method, target: target, idempotent: idempotent, tally: tallyFrom(ctx)}
	ctx = context.WithValue(ctx, exchangeKey{}, x)
	var raw any
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, displayPath(target), err)
	}
	req.Header.Set("Accept", MIMEType)
	if body != nil {
		req.Header.Set("Content-Type", MIMEType)
	}
	if method == http.MethodGet {
		if nc, _ := ctx.Value(noCacheKey{}).(bool); nc {
			req.Header.Set("Cache-Control", "no-cache")
		}
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}

	// Read the body inside the retry loop so that a connection dropped
	// mid-body is retried like one dropped before the headers.
	var got *response
	var handled *http.Response // the response the handler last read
	req.SetResponseHandler(func(resp *http.Response) error {
		handled, got = resp, nil
		defer resp.Body.Close()
		b, err := readBody(resp.Body, c.maxBody)
		if err != nil {
			return fmt.Errorf("read %d response body: %w", resp.StatusCode, err)
		}
		got = &response{status: resp.StatusCode, header: resp.Header, body: b}
		return nil
	})

	start := time.Now()
	resp, err := c.rc.Do(req)
	if resp != nil && resp != handled {
		// The policy gave up on a retryable status (e.g. the last of several
		// 503s): surface it as an *Error with its OperationOutcome.
		if ctx.Err() == nil {
			b, rerr := readBody(resp.Body, c.maxBody)
			if rerr == nil {
				got, err = &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
			}
		}
		resp.Body.Close()
	}
	if err == nil && got == nil {
		err = errors.New("no response") // unreachable with PassthroughErrorHandler
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "fhir: request failed",
			slog.String("method", method), slog.String("target", redactTarget(target)),
			slog.Int("attempts", x.attempts), slog.Duration("elapsed", time.Since(start)))
		return nil, &transportError{method: method, url: u.String(), attempts: x.attempts, err: err}
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "fhir: exchange",
		slog.String("method", method), slog.String("target", redactTarget(target)),
		slog.Int("status", got.status), slog.Int("attempts", x.attempts),
		slog.Int("bytes", len(got.body)), slog.Duration("elapsed", time.Since(start)))
	if got.status < 200 || got.status > 299 {
		return got, &Error{Method: method, Path: target, Status: got.status, Outcome: outcomeOrNil(got.body)}
	}
	return got, nil
}

// transportError is a request that got no usable HTTP answer.
type transportError struct {
	method   string
	url      string
	attempts int
	err      error
}

func (e *transportError) Error() string {
	msg := e.err.Error()
	var ue *url.Error
	if errors.As(e.err, &ue) && ue.Err != nil {
		msg = ue.Err.Error() // url.Error repeats the method and URL
	}
	return fmt.Sprintf("%s %s: giving up after %d attempt(s): %s", e.method, e.url, e.attempts, msg)
}

func (e *transportError) Unwrap() error { return e.err }

func readBody(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%w (%d bytes)", errBodyTooLarge, limit)
	}
	return buf.Bytes(), nil
}

// withTimeout applies the per-call timeout.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

var (
	resourceTypeRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	idRE           = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
)

func checkTypeAndID(resourceType, id string) error {
	if !resourceTypeRE.MatchString(resourceType) {
		return fmt.Errorf("invalid resource type %q", resourceType)
	}
	if id != "" && !idRE.MatchString(id) {
		return fmt.Errorf("invalid %s id %q", resourceType, id)
	}
	return nil
}

// resolve turns a base-relative target ("Observation?patient=p1") into a URL.
// Characters not allowed in a query (such as the "|" of token searches) are
// percent-encoded; existing escapes are kept.
func (c *Client) resolve(target string) (*url.URL, string, error) {
	target = strings.TrimPrefix(target, "/")
	path, query, hasQuery := strings.Cut(target, "?")
	if strings.Contains(path, "://") || strings.HasPrefix(path, "/") {
		return nil, "", fmt.Errorf("target %q: want a path relative to the base URL", target)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == ".." || seg == "." {
			return nil, "", fmt.Errorf("target %q: dot segments not allowed", target)
		}
	}
	if strings.ContainsAny(path, "#? \t\r\n") {
		return nil, "", fmt.Errorf("target %q: invalid character in path", target)
	}
	rel := path
	if hasQuery {
		rel += "?" + escapeQuery(query)
	}
	s := c.base.String()
	if rel != "" && !strings.HasPrefix(rel, "?") {
		s += "/"
	}
	u, err := url.Parse(s + rel)
	if err != nil {
		return nil, "", fmt.Errorf("target %q: %w", target, err)
	}
	return u, rel, nil
}

// escapeQuery percent-encodes the bytes RFC 3986 does not allow in a query.
func escapeQuery(q string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		ch := q[i]
		if queryByteOK(ch) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
	return b.String()
}

func queryByteOK(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/?%", ch) >= 0
}

// relativeTo renders u relative to the base: "Patient/p1", "?_getpages=x".
func (c *Client) relativeTo(u *url.URL) string {
	rel := strings.TrimPrefix(u.EscapedPath(), c.base.EscapedPath())
	rel = strings.TrimPrefix(rel, "/")
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel
}

// safeParams are search parameters whose values are paging or formatting
// controls, never identifiers; all other values are redacted in logs.
var safeParams = map[string]bool{
	"_count": true, "_getpages": true, "_getpagesoffset": true, "_pretty": true,
	"_bundletype": true, "_sort": true, "_summary": true, "_elements": true,
	"_total": true, "_format": true, "_include": true, "_revinclude": true,
	"_offset": true,
}

// redactTarget keeps the path (resource types and ids) and the parameter
// names of a target and replaces parameter values that might identify a
// patient by "REDACTED".
func redactTarget(target string) string {
	path, query, ok := strings.Cut(target, "?")
	if !ok {
		return displayPath(path)
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		if name, _, _ := strings.Cut(k, ":"); hasValue && !safeParams[name] {
			parts[i] = k + "=REDACTED"
		}
	}
	return displayPath(path + "?" + strings.Join(parts, "&"))
}

// Read returns the resource resourceType/id as JSON. A missing or deleted
// resource is an [*Error] matching [ErrNotFound].
func (c *Client) Read(ctx context.Context, resourceType, id string) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("fhir: read %s: empty id", resourceType)
	}
	if err := checkTypeAndID(resourceType, id); err != nil {
		return nil, fmt.Errorf("fhir: read: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	u, target, err := c.resolve(resourceType + "/" + id)
	if err != nil {
		return nil, fmt.Errorf("fhir: read: %w", err)
	}
	res, err := c.do(ctx, http.MethodGet, u, target, nil, nil, true)
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	return res.body, nil
}

// Transaction POSTs a transaction Bundle to the base and returns the
// transaction-response Bundle. A transaction is not retried after it may
// have reached the server (only on 429 or a failed dial).
func (c *Client) Transaction(ctx context.Context, bundle []byte) ([]byte, error) {
	if len(bytes.TrimSpace(bundle)) == 0 {
		return nil, errors.New("fhir: transaction: empty bundle")
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	res, err := c.do(ctx, http.MethodPost, c.base, "", bundle, nil, false)
	if err != nil {
		return nil, fmt.Errorf("fhir: transaction: %w", err)
	}
	return res.body, nil
}

// CreateResult is the outcome of [Client.ConditionalCreate].
type CreateResult struct {
	Status   int    // 201 or 200
	Location string // Location (or Content-Location) header, e.g. "http://…/Patient/p1/_history/1"
	Created  bool   // false when a matching resource already existed (200)
	// Resource is the body the server returned (HAPI returns the resource
	// by default), or nil.
	Resource json.RawMessage
}

// ConditionalCreate POSTs body to resourceType with If-None-Exist:
// ifNoneExist (a search query such as "identifier=http://sys|123"). 201
// means created, 200 that a single match already existed; several matches
// are a 412 [*Error] matching [ErrPreconditionFailed]. Being conditional, it
// is retried like a read. Parallel creates can still race on the server:
// make write-back idempotent by identifier.
func (c *Client) ConditionalCreate(ctx context.Context, resourceType string, body []byte, ifNoneExist string) (CreateResult, error) {
	if err := checkTypeAndID(resourceType, ""); err != nil {
		return CreateResult{}, fmt.Errorf("fhir: conditional create: %w", err)
	}
	if strings.TrimSpace(ifNoneExist) == "" {
		return CreateResult{}, fmt.Errorf("fhir: conditional create %s: empty If-None-Exist", resourceType)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return CreateResult{}, fmt.Errorf("fhir: conditional create %s: empty body", resourceType)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	u, target, err := c.resolve(resourceType)
	if err != nil {
		return CreateResult{}, fmt.Errorf("fhir: conditional create: %w", err)
	}
	hdr := http.Header{"If-None-Exist": {ifNoneExist}}
	res, err := c.do(ctx, http.MethodPost, u, target, body, hdr, true)
	if err != nil {
		return CreateResult{}, fmt.Errorf("fhir: conditional create: %w", err)
	}
	loc := res.header.Get("Location")
	if loc == "" {
		loc = res.header.Get("Content-Location")
	}
	cr := CreateResult{Status: res.status, Location: loc, Created: res.status == http.StatusCreated}
	if len(bytes.TrimSpace(res.body)) > 0 {
		cr.Resource = res.body
	}
	return cr, nil
}

// Capabilities returns the server's CapabilityStatement (GET [base]/metadata).
func (c *Client) Capabilities(ctx context.Context) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	u, target, err := c.resolve("metadata")
	if err != nil {
		return nil, fmt.Errorf("fhir: capabilities: %w", err)
	}
	res, err := c.do(ctx, http.MethodGet, u, target, nil, nil, true)
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	return res.body, nil
}

// SupportsEverything fetches the CapabilityStatement and reports whether the
// server declares Patient/$everything (see [HasPatientEverything]).
func (c *Client) SupportsEverything(ctx context.Context) (bool, error) {
	cs, err := c.Capabilities(ctx)
	if err != nil {
		return false, err
	}
	return HasPatientEverything(cs)
}

// HasPatientEverything reports whether a CapabilityStatement declares the
// Patient $everything operation on a server-mode rest entry, by name
// ("everything") or by a definition ending in "Patient-everything" (HAPI
// names its own definition ".../OperationDefinition/Patient-i-everything").
func HasPatientEverything(capabilityStatement []byte) (bool, error) {
	var cs struct {
		ResourceType string `json:"resourceType"`
		Rest         []struct {
			Mode     string `json:"mode"`
			Resource []struct {
				Type      string `json:"type"`
				Operation []struct {
					Name       string `json:"name"`
					Definition string `json:"definition"`
				} `json:"operation"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(capabilityStatement, &cs); err != nil {
		return false, fmt.Errorf("fhir: parse CapabilityStatement: %w", err)
	}
	if cs.ResourceType != "CapabilityStatement" {
		return false, fmt.Errorf("fhir: parse CapabilityStatement: resourceType is %q", cs.ResourceType)
	}
	for _, r := range cs.Rest {
		if r.Mode != "" && r.Mode != "server" {
			continue
		}
		for _, res := range r.Resource {
			if res.Type != "Patient" {
				continue
			}
			for _, op := range res.Operation {
				name := strings.TrimPrefix(op.Name, "$")
				if name == "everything" || strings.HasSuffix(op.Definition, "Patient-everything") ||
					strings.HasSuffix(op.Definition, "Patient-i-everything") {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
