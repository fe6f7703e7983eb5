package main

import (
	"os"
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
