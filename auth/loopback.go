package auth

import "net"

// IsLoopbackHost reports whether a URL's host (without port) is localhost or
// a loopback IP: the only place plain http is accepted for token endpoints
// and JWKS, or a development server may listen.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
