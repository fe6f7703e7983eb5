package stanza_test

import (
	"testing"

	"dormouse.im/dormouse/stanza"
)

func TestContainsWord(t *testing.T) {
	for _, tc := range []struct {
		s, w string
		want bool
	}{
		{"juliet", "juliet", true},
		{"hi JULIET!", "juliet", true},
		{"juliette", "juliet", false},
		{"xjuliet juliet", "juliet", true},
		{"é juliet é", "juliet", true},
		{"éjuliet", "juliet", false},
		{"", "juliet", false},
		{"juliet", "", false},
		{"x juliet_ y", "juliet", false},
	} {
		if got := stanza.ContainsWord(tc.s, tc.w); got != tc.want {
			t.Errorf("containsWord(%q, %q) = %v", tc.s, tc.w, got)
		}
	}
}
