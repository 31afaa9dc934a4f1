package loadtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat CPU times (USER_HZ, 100 on every Linux platform
// Go supports).
const clockTick = 10 * time.Millisecond

// CPUTime returns the user plus system CPU time a process has used, from /proc/<pid>/stat
// (pid 0 means this process).
func CPUTime(pid int) (time.Duration, error) {
	p := "self"
	if pid != 0 {
		p = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return 0, fmt.Errorf("loadtest: read CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields are counted
	// after the last ')'. utime and stime are fields 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("loadtest: short /proc/%s/stat", p)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("loadtest: bad CPU times in /proc/%s/stat", p)
	}
	return time.Duration(u+st) * clockTick, nil
}

// cpuSample is the CPU time of the servers, of redis and of this process at one moment.
type cpuSample struct {
	servers, redis, client time.Duration
	ok                     bool
}

func sampleCPU(servers []int, redis int) cpuSample {
	var s cpuSample
	for _, p := range servers {
		d, err := CPUTime(p)
		if err != nil {
			return s
		}
		s.servers += d
	}
	if redis != 0 {
		d, err := CPUTime(redis)
		if err != nil {
			return s
		}
		s.redis = d
	}
	d, err := CPUTime(0)
	if err != nil {
		return s
	}
	s.client, s.ok = d, true
	return s
}

// CPU is the CPU time used during the measured window, in seconds.
type CPU struct {
	Servers float64 `json:"servers_s"`
	Redis   float64 `json:"redis_s,omitempty"`
	Client  float64 `json:"client_s"`
	// DeliveriesPerServerCPUSec is deliveries in the window per CPU second of the servers
	// (and redis): a figure that depends less on what else the machine runs.
	DeliveriesPerServerCPUSec float64 `json:"deliveries_per_server_cpu_s,omitempty"`
}
