package auth

import (
	"errors"
	"io"
	"net/http"
)

// Transport adds the Client's bearer token to requests. When the server
// answers 401 it drops that token, gets a new one and sends the request
// once more, provided the body can be replayed (no body, or req.GetBody
// set, as http.NewRequest does for in-memory bodies).
type Transport struct {
	// Client supplies tokens.
	Client *Client
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// Transport returns a Transport over base (nil: http.DefaultTransport).
func (c *Client) Transport(base http.RoundTripper) *Transport {
	return &Transport{Client: c, Base: base}
}

// HTTPClient returns a copy of base (nil: a zero http.Client) whose
// transport is wrapped in a Transport.
func (c *Client) HTTPClient(base *http.Client) *http.Client {
	var hc http.Client
	if base != nil {
		hc = *base
	}
	hc.Transport = c.Transport(hc.Transport)
	return &hc
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Client == nil {
		closeBody()
		return nil, errors.New("auth: Transport has no Client")
	}
	tok, err := t.Client.Token()
	if err != nil {
		closeBody()
		return nil, err
	}
	req1 := req.Clone(req.Context())
	tok.SetAuthHeader(req1)
	resp, err := t.base().RoundTrip(req1) // closes req.Body
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return resp, nil
	}
	var body io.ReadCloser
	if req.Body != nil && req.Body != http.NoBody {
		body, err = req.GetBody()
		if err != nil {
			return resp, nil // keep the 401
		}
	}
	// Host only: FHIR paths and queries can identify a patient.
	t.Client.log.Debug("auth: FHIR server answered 401; renewing the token and retrying once",
		"method", req.Method, "host", req.URL.Host)
	t.Client.Invalidate(tok)
	tok2, err := t.Client.Token()
	if err != nil {
		if body != nil {
			body.Close()
		}
		resp.Body.Close()
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	req2 := req.Clone(req.Context())
	if body != nil {
		req2.Body = body
	}
	tok2.SetAuthHeader(req2)
	return t.base().RoundTrip(req2)
}
