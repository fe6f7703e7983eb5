package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports (the kernel exports it as 100 regardless of
// CONFIG_HZ).
const clockTick = 100

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns utime+stime of pid (all its threads) from /proc/PID/stat,
// or -1 if unknown.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after the last ')'. utime and stime are fields 14
	// and 15, i.e. the 12th and 13th after the state (field 3).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+st) * time.Second / clockTick
}

// machineBusy returns the CPU time all processors spent not idle (the sum
// over the "cpu" line of /proc/stat minus idle and iowait), or -1.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var total, idle int64
	for i, x := range f[1:] {
		if i >= 8 { // guest and guest_nice are already counted in user and nice
			break
		}
		n, _ := strconv.ParseInt(x, 10, 64)
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(total-idle) * time.Second / clockTick
}

// rss reads VmRSS of pid in KiB (0 if unknown).
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// loadavg returns the three load averages of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// namedCPU returns the CPU time used so far by every process whose command
// name is name (the server's database, say), or -1 if name is empty.
func namedCPU(name string) time.Duration {
	if name == "" {
		return -1
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if t := procCPU(pid); t > 0 {
			sum += t
		}
	}
	return sum
}

// sample is the CPU accounting at one instant.
type sample struct {
	t       time.Time
	gen     time.Duration // this process
	server  time.Duration // -pid, or -1
	db      time.Duration // the -db-process processes, or -1
	machine time.Duration // all CPUs, or -1
	load    string
}

func (o options) snapshot() sample {
	return sample{t: time.Now(), gen: cpuTime(), server: procCPU(o.pid), db: namedCPU(o.dbProcess),
		machine: machineBusy(), load: loadavg()}
}

// cpuFields describes the CPU use between a and b: generator, server (if
// known), the server's database (-db-process), the whole machine, and the
// rest ("other": neither generator nor server nor its database, i.e. other
// work on the machine disturbing the measurement).
func cpuFields(res map[string]any, a, b sample) {
	gen := b.gen - a.gen
	res["window_s"] = b.t.Sub(a.t).Seconds()
	res["window_generator_cpu_s"] = gen.Seconds()
	if a.server >= 0 && b.server >= 0 {
		res["server_cpu_s"] = (b.server - a.server).Seconds()
	}
	if a.machine >= 0 && b.machine >= 0 {
		m := b.machine - a.machine
		res["machine_busy_cpu_s"] = m.Seconds()
		other := m - gen
		if a.server >= 0 && b.server >= 0 {
			other -= b.server - a.server
		}
		if a.db >= 0 && b.db >= 0 {
			// The server's database works for it: not a disturbance.
			res["db_cpu_s"] = (b.db - a.db).Seconds()
			other -= b.db - a.db
		}
		res["other_cpu_s"] = max(other, 0).Seconds()
	}
}

// liveHeap returns the server's live Go heap after a collection, from its
// admin listener: /debug/pprof/heap?gc=1 runs a GC (the profile itself is
// discarded), then /metrics gives go_memstats_heap_alloc_bytes. Zero and
// no error without an admin address.
func liveHeap(ctx context.Context, admin string) (int64, error) {
	if admin == "" {
		return 0, nil
	}
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("admin listener: GET %s: %s", path, resp.Status)
		}
		return b, err
	}
	if _, err := get("/debug/pprof/heap?gc=1"); err != nil {
		return 0, err
	}
	b, err := get("/metrics")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_alloc_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("admin listener: go_memstats_heap_alloc_bytes %q: %w", v, err)
			}
			return int64(f), nil
		}
	}
	return 0, errors.New("admin listener: no go_memstats_heap_alloc_bytes in /metrics")
}
