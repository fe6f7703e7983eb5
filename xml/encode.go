package xml

import (
	"strconv"
	"unicode/utf8"
)

// AppendXML appends e serialized to b and returns the extended buffer.
//
// defaultNS is the default namespace in scope where e is written: if
// e.Name.Space equals it, no xmlns is written on e; otherwise e (and each
// descendant whose namespace differs from its parent's) gets xmlns='…'
// (an empty one for an element without namespace inside a namespaced one).
// Element names are written unprefixed (except in the XML namespace, as
// xml:local, which cannot be a default namespace). Attributes in the XML
// namespace are written as xml:lang etc.; attributes in any other namespace
// get prefixes ns0, ns1… declared on the element that uses them. Attributes
// that would be namespace declarations (xmlns, xmlns:*, or in the xmlns
// namespace) are skipped: namespaces are expressed by Name.Space only.
//
// Text and attribute values are escaped (see AppendEscapedText and
// AppendEscapedAttr). Elements without children are written self-closing.
// Names are written as they are: they must be valid XML names.
//
// For any element returned by a Decoder or Parse, Parse(e.AppendXML(nil,
// ns), ns) returns an element equal to e. AppendXML allocates only to grow
// b.
func (e *Element) AppendXML(b []byte, defaultNS string) []byte {
	if e == nil {
		return b
	}
	b = append(b, '<')
	childNS := e.Name.Space
	switch {
	case e.Name.Space == NSXML:
		// The XML namespace cannot be the default namespace.
		b = append(b, "xml:"...)
		b = append(b, e.Name.Local...)
		childNS = defaultNS
	case e.Name.Space != defaultNS:
		b = append(b, e.Name.Local...)
		b = append(b, " xmlns='"...)
		b = AppendEscapedAttr(b, e.Name.Space)
		b = append(b, '\'')
	default:
		b = append(b, e.Name.Local...)
	}
	for i := range e.Attr {
		a := &e.Attr[i]
		switch a.Name.Space {
		case "":
			if isXMLNSName(a.Name.Local) {
				continue
			}
			b = append(b, ' ')
		case NSXML:
			b = append(b, " xml:"...)
		case NSXMLNS:
			continue
		default:
			k := 0
			for k < i && e.Attr[k].Name.Space != a.Name.Space {
				k++
			}
			if k == i {
				b = append(b, " xmlns:ns"...)
				b = strconv.AppendInt(b, int64(k), 10)
				b = append(b, "='"...)
				b = AppendEscapedAttr(b, a.Name.Space)
				b = append(b, '\'')
			}
			b = append(b, " ns"...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, ':')
		}
		b = append(b, a.Name.Local...)
		b = append(b, "='"...)
		b = AppendEscapedAttr(b, a.Value)
		b = append(b, '\'')
	}
	if len(e.Children) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	for i := range e.Children {
		n := &e.Children[i]
		if n.El != nil {
			b = n.El.AppendXML(b, childNS)
		} else {
			b = AppendEscapedText(b, n.Text)
		}
	}
	b = append(b, "</"...)
	if e.Name.Space == NSXML {
		b = append(b, "xml:"...)
	}
	b = append(b, e.Name.Local...)
	return append(b, '>')
}

// isXMLNSName reports whether an unqualified attribute name would be read
// as a namespace declaration.
func isXMLNSName(s string) bool {
	return len(s) >= 5 && s[:5] == "xmlns" && (len(s) == 5 || s[5] == ':')
}

// String returns e serialized with its own namespace as the default, so the
// root carries no xmlns.
func (e *Element) String() string {
	if e == nil {
		return ""
	}
	return string(e.AppendXML(nil, e.Name.Space))
}

// AppendEscapedText appends s escaped as XML character data: & < > become
// entity references and \r becomes &#13; (a literal one would be read back
// as \n). Invalid UTF-8 and characters XML does not allow (C0 controls other
// than \t and \n, U+FFFE, U+FFFF) are replaced by U+FFFD, so the output is
// always well-formed.
func AppendEscapedText(b []byte, s string) []byte {
	return appendEscaped(b, s, cEscText)
}

// AppendEscapedAttr appends s escaped for an attribute value quoted with
// either quote character: & < > ' " become entity references and \t \n \r
// character references (so that attribute value normalization does not
// turn them into spaces). Invalid characters are replaced as by
// AppendEscapedText.
func AppendEscapedAttr(b []byte, s string) []byte {
	return appendEscaped(b, s, cEscAttr)
}

func appendEscaped(b []byte, s string, class uint16) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if charClass[c]&class == 0 {
			i++
			continue
		}
		var esc string
		n := 1
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\'':
			esc = "&apos;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#9;"
		case '\n':
			esc = "&#10;"
		case '\r':
			esc = "&#13;"
		default:
			if c >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(s[i:])
				if size > 1 && r != 0xFFFE && r != 0xFFFF {
					i += size
					continue
				}
				n = size
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += n
		last = i
	}
	return append(b, s[last:]...)
}
