package xml

import "unicode/utf8"

// Namespaces with a fixed meaning in XML and on XMPP streams.
const (
	// NSXML is the namespace bound to the predefined xml prefix (xml:lang).
	NSXML = "http://www.w3.org/XML/1998/namespace"
	// NSXMLNS is the namespace of namespace declarations; no element or
	// attribute may be in it.
	NSXMLNS = "http://www.w3.org/2000/xmlns/"
	// NSStream is the namespace of the <stream:stream> element (RFC 6120).
	NSStream = "http://etherx.jabber.org/streams"
)

// Byte classes used by the scanner and the escaper. Every byte >= 0x80 has
// the "needs attention" bits set so that UTF-8 is validated on the slow path.
const (
	cWS        = 1 << iota // XML whitespace: space, \t, \n, \r
	cNameStart             // ASCII NameStartChar other than ':'
	cName                  // ASCII NameChar other than ':'
	cText                  // ends the fast path in character data
	cAttr                  // ends the fast path in attribute values
	cCDATA                 // ends the fast path in CDATA sections
	cEscText               // must be escaped by AppendEscapedText
	cEscAttr               // must be escaped by AppendEscapedAttr
	cTagStop               // ends the framer's scan of a start tag: > ' "
)

// charClass maps a byte to its classes. It is computed once and never
// written afterwards.
var charClass = func() (t [256]uint16) {
	for c := 0; c < 256; c++ {
		var k uint16
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			k |= cWS
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			k |= cNameStart | cName
		case c >= '0' && c <= '9', c == '-', c == '.':
			k |= cName
		}
		if c >= 0x80 {
			k |= cText | cAttr | cCDATA | cEscText | cEscAttr
		}
		if c < 0x20 {
			k |= cAttr // \t \n \r are normalized to spaces, the rest are illegal
			if c != '\t' && c != '\n' {
				k |= cText | cCDATA | cEscText
			}
			k |= cEscAttr
		}
		switch c {
		case '<', '&':
			k |= cText | cAttr | cEscText | cEscAttr
		case '>':
			k |= cEscText | cEscAttr
		case ']':
			k |= cText | cCDATA
		case '\'', '"':
			k |= cAttr | cEscAttr | cTagStop
		}
		if c == '>' {
			k |= cTagStop
		}
		t[c] = k
	}
	return t
}()

// isXMLChar reports whether r is a legal XML 1.0 character (production [2]).
func isXMLChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}

// decodeChar decodes the UTF-8 sequence at the start of b, which must begin
// with a byte >= 0x80. It returns the sequence length, or 0 if the bytes are
// not valid UTF-8 or not a legal XML character.
func decodeChar(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 {
		return 0
	}
	if r == 0xFFFE || r == 0xFFFF {
		return 0
	}
	return n
}

// isNameStartRune reports whether the non-ASCII rune r is a NameStartChar
// (XML 1.0 fifth edition, production [4]).
func isNameStartRune(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6,
		r >= 0xD8 && r <= 0xF6,
		r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D,
		r >= 0x37F && r <= 0x1FFF,
		r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F,
		r >= 0x2C00 && r <= 0x2FEF,
		r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF,
		r >= 0xFDF0 && r <= 0xFFFD,
		r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune reports whether the non-ASCII rune r is a NameChar (production
// [4a]).
func isNameRune(r rune) bool {
	return isNameStartRune(r) || r == 0xB7 || r >= 0x300 && r <= 0x36F || r >= 0x203F && r <= 0x2040
}

// scanNCName returns the end of the NCName (a name without ':') starting at
// p[i], or ok == false if no valid name starts there.
func scanNCName(p []byte, i int) (end int, ok bool) {
	if i >= len(p) {
		return i, false
	}
	if c := p[i]; c < utf8.RuneSelf {
		if charClass[c]&cNameStart == 0 {
			return i, false
		}
		i++
	} else {
		r, n := utf8.DecodeRune(p[i:])
		if n == 1 || !isNameStartRune(r) {
			return i, false
		}
		i += n
	}
	for i < len(p) {
		c := p[i]
		if c < utf8.RuneSelf {
			if charClass[c]&cName == 0 {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if n == 1 || !isNameRune(r) {
			break
		}
		i += n
	}
	return i, true
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(p []byte, i int) int {
	for i < len(p) && charClass[p[i]]&cWS != 0 {
		i++
	}
	return i
}
