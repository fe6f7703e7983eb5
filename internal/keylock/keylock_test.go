package keylock_test

import (
	"sync"
	"testing"

	"dormouse.im/dormouse/internal/keylock"
)

func TestExclusionAndCleanup(t *testing.T) {
	var l keylock.Map
	var wg sync.WaitGroup
	counters := map[string]*int{"a": new(int), "b": new(int)}
	for i := 0; i < 50; i++ {
		for key, c := range counters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				unlock := l.Lock(key)
				*c++ // the race detector catches a missing exclusion
				unlock()
			}()
		}
	}
	wg.Wait()
	if *counters["a"] != 50 || *counters["b"] != 50 {
		t.Fatalf("counts %d %d", *counters["a"], *counters["b"])
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d keys left after every unlock", n)
	}
}
