package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// lossCounter matches the server counters (Prometheus text at /metrics, as examples/chat
// serves it) that count a message or connection lost to a limit: layer drops, group targets
// over capacity, full mailboxes and channels, event queues over their bound (overflow),
// slow-client closes, undecodable messages.
var lossCounter = regexp.MustCompile(`(?i)(drop|over_capacity|full|overflow|slow_client|slow_closes|undecodable)`)

// scrapeLimits reads every server's /metrics and returns the loss counters by series name
// ("name{labels}"), summed over the servers. Servers without /metrics contribute nothing;
// ok reports whether at least one answered.
func scrapeLimits(ctx context.Context, urls []string) (counters map[string]float64, ok bool) {
	counters = map[string]float64{}
	// No keep-alive: two scrapes per run, and no idle connection outlives Run.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	for _, u := range urls {
		mu, err := metricsURL(u)
		if err != nil {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, mu, nil)
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		if resp.StatusCode == http.StatusOK {
			ok = parseLossCounters(io.LimitReader(resp.Body, 8<<20), counters) || ok
		}
		_ = resp.Body.Close()
	}
	return counters, ok
}

// metricsURL turns a server's ws:// base URL into its http://.../metrics URL.
func metricsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path, u.RawQuery = "/metrics", ""
	return u.String(), nil
}

// parseLossCounters adds the loss counters of a Prometheus text exposition to into and
// reports whether the text held any metric at all.
func parseLossCounters(r io.Reader, into map[string]float64) bool {
	any := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		series, val := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		any = true
		name := series
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		if lossCounter.MatchString(name) || lossCounter.MatchString(series) {
			into[series] += v
		}
	}
	return any
}

// limitDeltas returns the counters that grew between before and after.
func limitDeltas(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func limitsText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s +%.0f", k, m[k])
	}
	return strings.Join(parts, ", ")
}
