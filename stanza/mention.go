package stanza

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"dormouse.im/dormouse/xml"
)

// NSReference is XEP-0372 References (mentions).
const NSReference = "urn:xmpp:reference:0"

// Mentions reports whether a groupchat message (its element el and body)
// mentions an account: a XEP-0372 mention reference of the account's bare
// JID (any resource, case-insensitive), or word as a whole word of body
// (see ContainsWord); word is the account's local part or room nick, and
// may be empty. Push, client state indication and rooms share this one
// rule.
func Mentions(el *xml.Element, body, bare, word string) bool {
	for _, n := range el.Children {
		r := n.El
		if r == nil || r.Name.Space != NSReference || r.Name.Local != "reference" || r.AttrValue("type") != "mention" {
			continue
		}
		uri, ok := strings.CutPrefix(r.AttrValue("uri"), "xmpp:")
		if ok && strings.EqualFold(strings.SplitN(uri, "/", 2)[0], bare) {
			return true
		}
	}
	return ContainsWord(body, word)
}

// ContainsWord reports whether word occurs in s, case-insensitively, with
// no letter, digit or '_' just before or after it. It allocates nothing.
func ContainsWord(s, word string) bool {
	if word == "" {
		return false
	}
	for i := 0; i+len(word) <= len(s); {
		j := indexFold(s[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		i = start + size
	}
	return false
}

// indexFold is strings.Index, case-insensitive (simple folding over
// windows of the same byte length).
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
