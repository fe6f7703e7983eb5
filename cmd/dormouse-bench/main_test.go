package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1:5222", "[::1]:5222", "localhost:5222"} {
		if err := checkLoopback(a); err != nil {
			t.Errorf("checkLoopback(%q) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"192.0.2.1:5222", "10.0.0.1:5222", "127.0.0.1"} {
		if err := checkLoopback(a); err == nil {
			t.Errorf("checkLoopback(%q) = nil, want an error", a)
		}
	}
}

func TestProcReaders(t *testing.T) {
	// Burn a little CPU so the counters move.
	end := time.Now().Add(30 * time.Millisecond)
	for x := 0; time.Now().Before(end); x++ {
		_ = x * x
	}
	if d := procCPU(os.Getpid()); d < 0 {
		t.Errorf("procCPU(self) = %v", d)
	}
	if d := procCPU(0); d != -1 {
		t.Errorf("procCPU(0) = %v, want -1", d)
	}
	if d := machineBusy(); d <= 0 {
		t.Errorf("machineBusy() = %v", d)
	}
	if r := rss(os.Getpid()); r <= 0 {
		t.Errorf("rss(self) = %d", r)
	}
	if l := loadavg(); l == "" {
		t.Error("loadavg() empty")
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := percentiles(d)
	if p50 != 51 || p99 != 100 {
		t.Errorf("percentiles = %v, %v; want 51, 100", p50, p99)
	}
	if a, b := percentiles(nil); a != 0 || b != 0 {
		t.Errorf("percentiles(nil) = %v, %v", a, b)
	}
}

func TestCPUFields(t *testing.T) {
	a := sample{t: time.Unix(0, 0), gen: time.Second, server: 2 * time.Second, machine: 10 * time.Second}
	b := sample{t: time.Unix(2, 0), gen: 2 * time.Second, server: 4 * time.Second, machine: 14 * time.Second}
	res := map[string]any{}
	cpuFields(res, a, b)
	if res["server_cpu_s"] != 2.0 || res["window_generator_cpu_s"] != 1.0 || res["other_cpu_s"] != 1.0 || res["window_s"] != 2.0 {
		t.Errorf("cpuFields = %v", res)
	}
	a.server, b.server = -1, -1
	res = map[string]any{}
	cpuFields(res, a, b)
	if _, ok := res["server_cpu_s"]; ok || res["other_cpu_s"] != 3.0 {
		t.Errorf("cpuFields without a server = %v", res)
	}
}

// TestLiveHeap checks the admin-listener reading of the idle scenario: a
// GC is asked for first, then the heap figure is parsed from /metrics.
func TestLiveHeap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics string
		status  int
		want    int64
		wantErr bool
	}{
		{"prometheus float", "# HELP x\ngo_memstats_heap_alloc_bytes 7.1990528e+07\ngo_goroutines 18\n", 200, 71990528, false},
		{"integer", "go_memstats_heap_alloc_bytes 123\n", 200, 123, false},
		{"missing", "go_goroutines 18\n", 200, 0, true},
		{"garbage", "go_memstats_heap_alloc_bytes lots\n", 200, 0, true},
		{"server error", "", 500, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gcAsked := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/debug/pprof/heap" && r.URL.Query().Get("gc") == "1":
					gcAsked = true
				case r.URL.Path == "/metrics" && gcAsked:
					w.WriteHeader(tc.status)
					w.Write([]byte(tc.metrics))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			got, err := liveHeap(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("liveHeap = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if got, err := liveHeap(context.Background(), ""); got != 0 || err != nil {
		t.Errorf("liveHeap without an address = %d, %v; want 0, nil", got, err)
	}
}
