package shrinkmap

import (
	"runtime"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[int, string]
	if _, ok := m.Get(1); ok || m.Len() != 0 {
		t.Fatal("zero Map not empty")
	}
	m.Set(1, "a")
	m.Set(2, "b")
	m.Set(1, "c")
	if v, ok := m.Get(1); !ok || v != "c" || m.Len() != 2 {
		t.Errorf("Get(1) = %q, %v; Len %d", v, ok, m.Len())
	}
	m.Delete(2)
	m.Delete(3)
	got := map[int]string{}
	for k, v := range m.All() {
		got[k] = v
	}
	if len(got) != 1 || got[1] != "c" {
		t.Errorf("All = %v", got)
	}
	for range m.All() {
		break // stopping early is allowed
	}
	m.Clear()
	if m.Len() != 0 {
		t.Error("Clear left entries")
	}
}

// TestShrink checks that the map is made again when it falls to an eighth
// of its peak, keeping what it holds, and that its memory goes back.
func TestShrink(t *testing.T) {
	const n = 100_000
	var m Map[int, *int]
	before := heap()
	for i := range n {
		m.Set(i, new(int))
	}
	full := heap() - before
	for i := range n - 100 {
		m.Delete(i)
		if m.peak < minPeak && i < n-minPeak*8 {
			t.Fatalf("shrank early: peak %d with %d entries", m.peak, m.Len())
		}
	}
	if m.Len() != 100 || m.peak > n/8 {
		t.Errorf("Len %d, peak %d; want 100 entries and a peak of at most %d", m.Len(), m.peak, n/8)
	}
	for i := n - 100; i < n; i++ {
		if p, ok := m.Get(i); !ok || p == nil {
			t.Fatalf("entry %d lost", i)
		}
	}
	if left := heap() - before; left > full/8 {
		t.Errorf("%d bytes held with 100 of %d entries left (%d at the peak)", left, n, full)
	}
	runtime.KeepAlive(&m)
}

func heap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
