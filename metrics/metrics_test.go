package metrics_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dormouse.im/dormouse/metrics"
)

func TestExposition(t *testing.T) {
	m := metrics.New()
	m.Routed("message", 30*time.Microsecond)
	m.StorageDone("offline_store", 2*time.Millisecond, nil)
	m.StorageDone("offline_store", time.Millisecond, errors.New("disk full"))
	m.MAMQueried(4 * time.Millisecond)
	m.GaugeFunc("test_gauge", "A gauge.", func() float64 { return 7 })
	m.CounterFunc("test_counter", "A counter.", func() float64 { return 9 })
	m.CounterVecFunc("test_by", "By kind.", "kind", []string{"x", "y"}, func() []float64 { return []float64{5, 6} })
	reads := 0
	m.GaugeGroup([]metrics.Gauge{{Name: "test_a", Help: "A."}, {Name: "test_b", Help: "B."}}, func() []float64 {
		reads++
		return []float64{3, 4}
	})
	m.LabeledGroup("peer", []metrics.Labeled{{Name: "test_sent_total", Help: "Sent.", Counter: true}, {Name: "test_size", Help: "Size."}},
		func() []metrics.Series {
			return []metrics.Series{{Label: "n2", Values: []float64{10, 2}}, {Label: "n3", Values: []float64{11, 0}}}
		})

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`dormouse_stanzas_routed_total{kind="message"} 1`,
		`dormouse_route_duration_seconds_bucket{kind="message",le="5e-05"} 1`,
		`dormouse_storage_duration_seconds_count{op="offline_store"} 2`,
		`dormouse_storage_errors_total{op="offline_store"} 1`,
		`dormouse_mam_query_duration_seconds_count 1`,
		`dormouse_test_gauge 7`,
		`dormouse_test_counter 9`,
		`dormouse_test_a 3`,
		`dormouse_test_by{kind="y"} 6`,
		`dormouse_test_b 4`,
		`dormouse_test_sent_total{peer="n2"} 10`,
		`dormouse_test_sent_total{peer="n3"} 11`,
		`dormouse_test_size{peer="n2"} 2`,
		"# TYPE dormouse_test_sent_total counter",
		"# TYPE dormouse_test_size gauge",
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if reads != 1 {
		t.Errorf("a gauge group was read %d times in one scrape, want 1", reads)
	}
}
