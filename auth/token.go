package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// maxTokenBody bounds the token response read.
const maxTokenBody = 1 << 20

// defaultTokenLifetime is assumed when a token response has no expires_in
// (SMART requires it; 300 s is the lifetime SMART recommends at most).
const defaultTokenLifetime = 300 * time.Second

// TokenError is a failed token request. For an RFC 6749 §5.2 error response
// Code and Description hold the server's error and error_description
// verbatim; they are not secrets.
type TokenError struct {
	TokenURL    string // without user info or query
	StatusCode  int    // HTTP status; 0 when no response was received
	Code        string // "error", e.g. "invalid_client"
	Description string // "error_description"
	URI         string // "error_uri"
	// Body is the start of a non-OAuth error body (e.g. an HTML 502 page),
	// on one line. It is never set for a 2xx response, which could carry a
	// token.
	Body string
	Err  error // transport or decoding error, if any
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auth: token request to %s failed", e.TokenURL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": error=%q", e.Code)
		if e.Description != "" {
			fmt.Fprintf(&b, " error_description=%q", e.Description)
		}
		if e.URI != "" {
			fmt.Fprintf(&b, " error_uri=%q", e.URI)
		}
	} else if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *TokenError) Unwrap() error { return e.Err }

// Retryable reports whether asking again may help: not when the server
// answered 4xx (the client, key or scope is refused), yes for 5xx and
// network failures. The fhir client uses it to avoid retrying a refusal.
func (e *TokenError) Retryable() bool { return e.StatusCode == 0 || e.StatusCode >= 500 }

// tokenResponse is a successful RFC 6749 §5.1 response.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Scope       string          `json:"scope"`
}

type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
}

// parseExpiresIn accepts a JSON number or a string holding one (some
// servers send "3600"). ok is false when absent or null.
func parseExpiresIn(raw json.RawMessage) (secs int64, ok bool, err error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false, nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, fmt.Errorf("expires_in: %w", err)
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false, fmt.Errorf("expires_in %q is not a number of seconds", s)
	}
	return int64(f), true, nil
}

// redactURL drops user info, query and fragment.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	p.User, p.RawQuery, p.Fragment, p.RawFragment, p.ForceQuery = nil, "", "", "", false
	return p.String()
}

// oneLineSnippet returns the first n runes of b on one line.
func oneLineSnippet(b []byte, n int) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return s
}

// TokenRequestInfo describes one token request, for WithTokenRequestHook.
type TokenRequestInfo struct {
	N          int64         // 1 for the client's first token request
	StatusCode int           // 0 when no response was received
	Duration   time.Duration // round trip
	Err        error         // nil on success
}

// requestToken signs a fresh assertion and exchanges it for a token. It is
// the only place that POSTs to the token endpoint, exactly once per call.
func (c *Client) requestToken() (*oauth2.Token, error) {
	n := c.requests.Add(1)
	start := time.Now()
	status := 0
	tok, err := c.doTokenRequest(start, &status)
	info := TokenRequestInfo{N: n, StatusCode: status, Duration: time.Since(start), Err: err}
	if c.hook != nil {
		c.hook(info)
	}
	if err != nil {
		c.log.Warn("auth: token request failed", "token_url", c.tokenURLRedacted, "n", n, "status", status, "err", err)
		return nil, err
	}
	c.log.Debug("auth: token issued", "token_url", c.tokenURLRedacted, "n", n,
		"expires_in", tok.ExpiresIn, "scope", tok.Extra("scope"), "duration", info.Duration)
	return tok, nil
}

func (c *Client) doTokenRequest(start time.Time, status *int) (*oauth2.Token, error) {
	fail := func(err error) error {
		return &TokenError{TokenURL: c.tokenURLRedacted, StatusCode: *status, Err: err}
	}
	assertion, err := SignAssertion(c.key, Assertion{
		ClientID: c.clientID, Audience: c.audience, JKU: c.jku, Lifetime: c.assertionLifetime, Now: start,
	})
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
	}
	if len(c.scopes) > 0 {
		form.Set("scope", strings.Join(c.scopes, " "))
	}
	ctx, cancel := context.WithTimeout(c.baseCtx, c.tokenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fail(err)
	}
	// The assertion is single use: nothing may replay this request.
	req.GetBody = nil
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.tokenHTTP.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message repeats the URL
		}
		return nil, fail(err)
	}
	defer resp.Body.Close()
	*status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return nil, fail(fmt.Errorf("read response: %w", err))
	}
	if len(body) > maxTokenBody {
		return nil, fail(fmt.Errorf("response larger than %d bytes", maxTokenBody))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		te := &TokenError{TokenURL: c.tokenURLRedacted, StatusCode: resp.StatusCode}
		var er errorResponse
		if json.Unmarshal(body, &er) == nil && er.Error != "" {
			te.Code, te.Description, te.URI = er.Error, er.ErrorDescription, er.ErrorURI
		} else {
			te.Body = oneLineSnippet(body, 200)
		}
		return nil, te
	}
	// From here on the body may hold a token: never quote it.
	var tr tokenResponse
	if err := json.Unmarshal(bytes.TrimSpace(body), &tr); err != nil {
		return nil, fail(errors.New("token response is not a JSON object"))
	}
	if tr.AccessToken == "" {
		var er errorResponse
		if json.Unmarshal(body, &er) == nil && er.Error != "" {
			return nil, &TokenError{TokenURL: c.tokenURLRedacted, StatusCode: resp.StatusCode,
				Code: er.Error, Description: er.ErrorDescription, URI: er.ErrorURI}
		}
		return nil, fail(errors.New("token response has no access_token"))
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, fail(fmt.Errorf("token_type %q is not supported (want Bearer)", oneLineSnippet([]byte(tr.TokenType), 40)))
	}
	secs, ok, err := parseExpiresIn(tr.ExpiresIn)
	if err != nil {
		return nil, fail(err)
	}
	if !ok {
		secs = int64(defaultTokenLifetime / time.Second)
		c.log.Debug("auth: token response has no expires_in; assuming the default", "seconds", secs)
	}
	tok := &oauth2.Token{
		AccessToken: tr.AccessToken,
		TokenType:   "Bearer",
		ExpiresIn:   secs,
		// Counted from before the request was sent: errs on the early side.
		Expiry: start.Add(time.Duration(secs) * time.Second),
	}
	return tok.WithExtra(map[string]any{"scope": tr.Scope, "token_type": tr.TokenType}), nil
}
