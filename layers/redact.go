package layers

import (
	"net/url"
	"strings"
)

// redacted replaces every secret Redact hides.
const redacted = "xxxxx"

// secretParams are the query parameters of layer URLs whose values are secrets.
var secretParams = map[string]bool{
	"password":                  true,
	"sentinel_password":         true,
	"symmetric_encryption_key":  true,
	"symmetric_encryption_keys": true,
}

// urlParams are the query parameters of layer URLs whose values may be URLs or addresses
// with credentials of their own (the extra shards of "host=", the sentinels of "sentinel=").
var urlParams = map[string]bool{"host": true, "sentinel": true}

// Redact returns a layer URL fit for logs and error messages: every password replaced by
// "xxxxx", whatever the scheme (redis://, rediss://, redis+pubsub://, redis+sentinel://,
// redis+cluster://, memory://), in the URL's user info ("redis://:xxxxx@host:6379/0",
// "redis://user:xxxxx@host"), in the URLs and addresses of the host= and sentinel= parameters
// (extra shards, sentinels), and in the values of the password, sentinel_password and
// symmetric_encryption_key(s) parameters. The rest of the URL is kept as written. A URL that
// does not parse is redacted by its shape: everything between the first ':' after "//" and
// the last '@' is hidden.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" {
		return redactUnparsed(rawURL) // unreadable, or "redis:user:pw@host" with no "//"
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
			changed = true
		}
	}
	if u.RawQuery != "" {
		if q := redactQuery(u.RawQuery); q != u.RawQuery {
			u.RawQuery, changed = q, true
		}
	}
	if !changed {
		return rawURL // as written: re-encoding could alter what the user recognizes
	}
	return u.String()
}

// redactQuery hides the secrets of a raw query, keeping its parameters in order and the
// others as written.
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		switch {
		case secretParams[key]:
			parts[i] = k + "=" + redacted
		case urlParams[key]:
			parts[i] = k + "=" + redactValue(v)
		}
	}
	return strings.Join(parts, "&")
}

// redactValue redacts a query value that is a URL ("redis://:pw@h2:6379/0") or an address
// with user info (":pw@h2:6379"), escaped in the query or not.
func redactValue(raw string) string {
	v, err := url.QueryUnescape(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	var r string
	if strings.Contains(v, "://") {
		r = Redact(v)
	} else {
		r = redactUnparsed(v) // a bare host[:port], with user info or not
	}
	if r == v {
		return raw
	}
	if v == raw {
		return r // written unescaped: keep it so
	}
	return url.QueryEscape(r)
}

// redactUnparsed hides the password of a URL or address that url.Parse cannot read (or that
// has no scheme), by its shape: in "[scheme://]user:password@rest" everything between the
// first ':' of the user info and the last '@' goes. It may hide more than the password of a
// malformed URL, never less.
func redactUnparsed(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(raw[start:], "@")
	if at < 0 {
		return raw
	}
	at += start
	colon := strings.Index(raw[start:at], ":")
	if colon < 0 {
		return raw // a user name only
	}
	colon += start
	return raw[:colon+1] + redacted + raw[at:]
}
