package redislayer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gochannels/gochannels/layers"
)

// parseHistoryRules parses the history URL parameter: entries "pattern:size:ttl" separated
// by ",", size a count (0: no count bound) and ttl seconds or a Go duration (0 or empty: no
// time bound). Until layers.ParseHistoryRules is shared by both layers this is the Redis
// layer's own reading of the same syntax.
func parseHistoryRules(spec string) ([]layers.HistoryRule, error) {
	var rules []layers.HistoryRule
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		c2 := strings.LastIndexByte(entry, ':')
		if c2 < 0 {
			return nil, fmt.Errorf("history entry %q: want pattern:size:ttl", entry)
		}
		c1 := strings.LastIndexByte(entry[:c2], ':')
		if c1 <= 0 {
			return nil, fmt.Errorf("history entry %q: want pattern:size:ttl", entry)
		}
		r := layers.HistoryRule{Pattern: entry[:c1]}
		if s := entry[c1+1 : c2]; s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("history entry %q: size %q is not a count", entry, s)
			}
			r.Size = n
		}
		if s := entry[c2+1:]; s != "" && s != "0" {
			d, err := parseSeconds(s)
			if err != nil {
				return nil, fmt.Errorf("history entry %q: ttl %q: %w", entry, s, err)
			}
			r.TTL = d
		}
		rules = append(rules, r)
	}
	if _, err := compileHistory(rules); err != nil {
		return nil, err
	}
	return rules, nil
}
