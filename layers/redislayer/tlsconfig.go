package redislayer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// loadCAFile reads the PEM certificates of a tls_ca URL parameter into a TLS configuration
// that trusts them (and only them) as roots.
func loadCAFile(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("redislayer: tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("redislayer: tls_ca=%q holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// withTLS returns the TLS configuration of one client: nil when base is nil (the client's own
// configuration, if any, stays), else a copy of base whose empty ServerName is taken from
// the client's own configuration (the host name of a rediss:// URL).
func withTLS(own, base *tls.Config) *tls.Config {
	if base == nil {
		return own
	}
	c := base.Clone()
	if c.ServerName == "" && own != nil {
		c.ServerName = own.ServerName
	}
	return c
}
