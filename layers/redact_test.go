package layers

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Nothing to hide: the URL as written.
		{"memory://", "memory://"},
		{"memory://?capacity=10&channel_capacity=http.*:200", "memory://?capacity=10&channel_capacity=http.*:200"},
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://onlyuser@h/0", "redis://onlyuser@h/0"},
		{"redis://h1:6379/0?host=h2:6379&prefix=app", "redis://h1:6379/0?host=h2:6379&prefix=app"},
		// The user info of every scheme Open accepts.
		{"redis://:s3cret@host:6379/0", "redis://:xxxxx@host:6379/0"},
		{"redis://user:s3cret@localhost:6379/0", "redis://user:xxxxx@localhost:6379/0"},
		{"rediss://:s3cret@host:6380/1?tls_ca=/etc/ca.pem", "rediss://:xxxxx@host:6380/1?tls_ca=/etc/ca.pem"},
		{"redis+pubsub://:s3cret@host:6379/0", "redis+pubsub://:xxxxx@host:6379/0"},
		{"rediss+pubsub://u:s3cret@host:6379/0", "rediss+pubsub://u:xxxxx@host:6379/0"},
		{"redis+cluster://:s3cret@n1:7000?host=n2:7001", "redis+cluster://:xxxxx@n1:7000?host=n2:7001"},
		// Sentinel: the masters' password, the sentinels' own, and sentinels with user info.
		{
			"redis+sentinel://:s3cret@s1:26379/0?master_name=mymaster&sentinel=s2:26379&sentinel_password=t0p",
			"redis+sentinel://:xxxxx@s1:26379/0?master_name=mymaster&sentinel=s2:26379&sentinel_password=xxxxx",
		},
		{"redis+sentinel://s1:26379?master_name=m&sentinel=:t0p@s2:26379", "redis+sentinel://s1:26379?master_name=m&sentinel=:xxxxx@s2:26379"},
		// Several hosts, a host= value being a URL of its own, escaped or not.
		{
			"redis://:s3cret@h1:6379/0?host=h2:6379&host=redis://:other@h3:6379/2",
			"redis://:xxxxx@h1:6379/0?host=h2:6379&host=redis://:xxxxx@h3:6379/2",
		},
		{
			"redis://h1:6379/0?host=" + "rediss%3A%2F%2Fu%3Aother%40h3%3A6379%2F2",
			"redis://h1:6379/0?host=" + "rediss%3A%2F%2Fu%3Axxxxx%40h3%3A6379%2F2",
		},
		// Encryption keys.
		{"redis://h/0?symmetric_encryption_key=k1&symmetric_encryption_key=k2", "redis://h/0?symmetric_encryption_key=xxxxx&symmetric_encryption_key=xxxxx"},
		{"redis://h/0?symmetric_encryption_keys=k1", "redis://h/0?symmetric_encryption_keys=xxxxx"},
		// URLs url.Parse refuses, or reads as opaque: hidden by shape.
		{"redis://:s3cret@[::1/0", "redis://:xxxxx@[::1/0"},
		{"redis://u:p%zz@host/0", "redis://u:xxxxx@host/0"},
		{"redis:u:s3cret@host", "redis:xxxxx@host"},
	} {
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"s3cret", "other", "t0p", "k1", "k2", "p%zz"} {
			if strings.Contains(got, secret) {
				t.Errorf("Redact(%q) = %q: %q shows", tc.in, got, secret)
			}
		}
	}
}
