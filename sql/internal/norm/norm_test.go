package norm

import (
	"slices"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
)

func TestMicro(t *testing.T) {
	zone := time.FixedZone("UTC+1", 3600)
	whole := time.Date(2025, 3, 14, 15, 9, 26, 535_897_000, zone)
	for _, tc := range []struct {
		t           time.Time
		ceil, floor time.Time
	}{
		{whole, whole, whole},
		{whole.Add(time.Nanosecond), whole.Add(time.Microsecond), whole},
		{whole.Add(999 * time.Nanosecond), whole.Add(time.Microsecond), whole},
		{whole.Add(-time.Nanosecond), whole, whole.Add(-time.Microsecond)},
	} {
		if got := CeilMicro(tc.t); !got.Equal(tc.ceil) || got.Location() != time.UTC {
			t.Errorf("CeilMicro(%v) = %v, want %v in UTC", tc.t, got, tc.ceil)
		}
		if got := FloorMicro(tc.t); !got.Equal(tc.floor) || got.Location() != time.UTC {
			t.Errorf("FloorMicro(%v) = %v, want %v in UTC", tc.t, got, tc.floor)
		}
	}
}

func TestFullTextWords(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"-- ; * \"", nil},
		{"Romeo", []string{"Romeo"}},
		{" wherefore  art\tthou, Romeo? ", []string{"wherefore", "art", "thou,", "Romeo?"}},
		{`"quoted" don't 友達 -- 42`, []string{`"quoted"`, "don't", "友達", "42"}},
	} {
		if got := FullTextWords(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("FullTextWords(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestMAMPrefs(t *testing.T) {
	p, err := MAMPrefs(mam.Prefs{Default: mam.PrefRoster, Always: []string{"b", "a", "b"}, Never: []string{}})
	if err != nil || p.Default != mam.PrefRoster || !slices.Equal(p.Always, []string{"a", "b"}) || p.Never != nil {
		t.Errorf("MAMPrefs = %#v, %v", p, err)
	}
	for _, d := range []string{"", "Always", "sometimes"} {
		if _, err := MAMPrefs(mam.Prefs{Default: d}); err == nil {
			t.Errorf("MAMPrefs with default %q succeeded", d)
		}
	}
}
