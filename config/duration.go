package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML and environment variables as
// a string: Go's duration syntax ("300ms", "90s", "10m", "1h30m") plus a
// "d" unit of 24 hours ("365d", "1d12h", "1.5d"). A bare number is an error
// (except "0"), so "600" cannot be mistaken for seconds or minutes.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d compactly: "10m", "1h30m", "36h", "1.5s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

const day = 24 * time.Hour

// parseDuration parses time.ParseDuration's syntax extended with a "d"
// (24h) unit.
func parseDuration(s string) (time.Duration, error) {
	orig := s
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"10m\", \"1h30m\", \"7d\")", orig)
		}
		return d, nil
	}
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q", orig)
	}
	var total time.Duration
	for s != "" {
		// A number, then a unit.
		i := 0
		for i < len(s) && (s[i] == '.' || s[i] >= '0' && s[i] <= '9') {
			i++
		}
		j := i
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"10m\", \"1h30m\", \"7d\")", orig)
		}
		var part time.Duration
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q: %w", orig, err)
			}
			v := f * float64(day)
			if v > math.MaxInt64 {
				return 0, fmt.Errorf("invalid duration %q: out of range", orig)
			}
			part = time.Duration(v)
		} else {
			var err error
			part, err = time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"10m\", \"1h30m\", \"7d\")", orig)
			}
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("invalid duration %q: out of range", orig)
		}
		total += part
	}
	if neg {
		total = -total
	}
	return total, nil
}
