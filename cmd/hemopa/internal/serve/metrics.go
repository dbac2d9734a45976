package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series. Labels hold only fixed words
// (routes, decisions, reasons), never identifiers.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec   // route, code, decision
	latency    *prometheus.HistogramVec // route, decision
	decisions  *prometheus.CounterVec   // hook, policy, decision
	fhirTrips  *prometheus.CounterVec   // result: ok, error
	tokenUse   *prometheus.CounterVec   // use: used, rejected, not-used (CRD MetricTokenUse)
	jwksFetch  *prometheus.CounterVec   // result
	authFail   *prometheus.CounterVec   // reason
	rateLimits prometheus.Counter
	cacheHits  *prometheus.CounterVec // cache: resources, decisions; result: hit, miss
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_http_requests_total", Help: "HTTP requests by route, status code and decision.",
	}, []string{"route", "code", "decision"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hemopa_http_request_duration_seconds", Help: "HTTP request latency by route and decision.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "decision"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_decisions_total", Help: "Determinations returned, by hook or operation, policy and decision.",
	}, []string{"hook", "policy", "decision"})
	m.fhirTrips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_fhir_round_trips_total", Help: "Round trips to EHR FHIR servers for data the prefetch lacked.",
	}, []string{"result"})
	m.tokenUse = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_fhir_authorization_total", Help: "Use of the hook's fhirAuthorization token (used, rejected, not-used).",
	}, []string{"use"})
	m.jwksFetch = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_jwks_fetches_total", Help: "Fetches of issuers' JWKS (key sets verifying inbound tokens).",
	}, []string{"result"})
	m.authFail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_auth_failures_total", Help: "Inbound requests refused with 401, by reason.",
	}, []string{"reason"})
	m.rateLimits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hemopa_rate_limited_total", Help: "Requests refused with 429.",
	})
	m.cacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hemopa_cache_lookups_total", Help: "Cache lookups by cache and result.",
	}, []string{"cache", "result"})
	m.reg.MustRegister(m.requests, m.latency, m.decisions, m.fhirTrips, m.tokenUse, m.jwksFetch, m.authFail,
		m.rateLimits, m.cacheHits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observe(route string, code int, decision string, d time.Duration) {
	if decision == "" {
		decision = "none"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code), decision).Inc()
	m.latency.WithLabelValues(route, decision).Observe(d.Seconds())
}

func (m *metrics) cache(name string, hit bool) {
	r := "miss"
	if hit {
		r = "hit"
	}
	m.cacheHits.WithLabelValues(name, r).Inc()
}

// countingTransport counts JWKS fetches.
type countingTransport struct {
	base http.RoundTripper
	m    *metrics
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	switch {
	case err != nil:
		t.m.jwksFetch.WithLabelValues("error").Inc()
	case resp.StatusCode != http.StatusOK:
		t.m.jwksFetch.WithLabelValues("status-" + strconv.Itoa(resp.StatusCode)).Inc()
	default:
		t.m.jwksFetch.WithLabelValues("ok").Inc()
	}
	return resp, err
}
