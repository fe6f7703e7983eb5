package xml

import (
	"bytes"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// The parser turns the bytes of one complete element into an Element tree.
//
// It works on a private copy of the element's bytes (p) that belongs to the
// returned tree: character data and attribute values are unescaped in place
// (a reference is never shorter than what it stands for, so the write cursor
// never overtakes the read cursor) and every string of the tree — names,
// values, text — is a view of p made with unsafe.String. p is never written
// again once the parse has finished. Elements, attributes and child nodes
// are carved out of a few slabs sized from counts the framer collected, so
// a stanza costs a handful of allocations however many nodes it has.
//
// The parser is iterative (an explicit stack of open elements), so deep
// nesting cannot overflow the goroutine stack; the Decoder bounds depth
// while framing.
type parser struct {
	p        []byte
	bindings []binding // in-scope prefix bindings, innermost last
	defNS    string    // in-scope default namespace
	stack    []frame   // open elements
	scratch  []Node    // children of the open elements, in document order
	raw      []rawAttr // attributes of the start tag being parsed

	// Slabs and the sizes to allocate them with.
	elems                        []Element
	attrs                        []Attr
	nodes                        []Node
	elemHint, attrHint, nodeHint int
}

type binding struct {
	prefix, uri string
}

type frame struct {
	el        *Element
	qs, qe    int // the raw qualified name in p, to match the end tag
	nsMark    int // len(bindings) before the element's declarations
	defNS     string
	childBase int // len(scratch) when the element was opened
}

// rawAttr locates an attribute of the start tag being parsed in p (offsets
// rather than strings, so the scratch space holds no pointers).
type rawAttr struct {
	ps, pe int // prefix; empty if unprefixed
	ls, le int // local name
	vs, ve int // value, unescaped in place
}

// maxBindings bounds the namespace prefixes in scope at any point (the
// stream header's included). Prefix lookups and duplicate checks are linear
// in it, so it keeps a hostile stanza from costing quadratic time; real
// stanzas use a few prefixes at most.
const maxBindings = 64

// str returns a string sharing b's memory. b must never be written again.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// begin prepares ps to parse p with the given slab sizes. The first
// baseLen bindings (and defNS) are the context the element is parsed in.
func (ps *parser) begin(p []byte, baseLen int, defNS string, elems, attrs, nodes int) {
	ps.p = p
	ps.bindings = ps.bindings[:baseLen]
	ps.defNS = defNS
	ps.elemHint, ps.attrHint, ps.nodeHint = elems, attrs, nodes
}

// finish ends a parse. To keep the hot path cheap, the scratch space is
// not cleared and may keep the last element trees reachable until it is
// reused or drop is called; scratch space grown by an unusual element is
// dropped at once.
func (ps *parser) finish(baseLen int) {
	ps.p = nil
	ps.elems, ps.attrs, ps.nodes = nil, nil, nil
	ps.stack = ps.stack[:0]
	ps.scratch = ps.scratch[:0]
	ps.raw = ps.raw[:0]
	ps.bindings = ps.bindings[:min(baseLen, len(ps.bindings))]
	if cap(ps.stack) > 64 {
		ps.stack = nil
	}
	if cap(ps.scratch) > 256 {
		ps.scratch = nil
	}
	if cap(ps.raw) > 256 {
		ps.raw = nil
	}
}

// drop clears all scratch space beyond the first baseLen bindings, so that
// the parser keeps nothing of the elements it parsed alive.
func (ps *parser) drop(baseLen int) {
	ps.finish(baseLen)
	clear(ps.stack[:cap(ps.stack)])
	clear(ps.scratch[:cap(ps.scratch)])
	clear(ps.bindings[len(ps.bindings):cap(ps.bindings)])
}

func (ps *parser) newElement() *Element {
	if len(ps.elems) == 0 {
		n := max(ps.elemHint, 1)
		ps.elemHint = 8
		ps.elems = make([]Element, n)
	}
	e := &ps.elems[0]
	ps.elems = ps.elems[1:]
	return e
}

func (ps *parser) newAttrs(n int) []Attr {
	if len(ps.attrs) < n {
		ps.attrs = make([]Attr, max(n, ps.attrHint))
		ps.attrHint = 8
	}
	a := ps.attrs[:n:n]
	ps.attrs = ps.attrs[n:]
	return a
}

func (ps *parser) newNodes(n int) []Node {
	if len(ps.nodes) < n {
		ps.nodes = make([]Node, max(n, ps.nodeHint))
		ps.nodeHint = 8
	}
	c := ps.nodes[:n:n]
	ps.nodes = ps.nodes[n:]
	return c
}

// element parses the element whose start tag begins at p[i] and returns it
// with the index just past its end.
func (ps *parser) element(i int) (*Element, int, error) {
	p := ps.p
	if err := checkMarkup(p, i); err != nil {
		return nil, i, err
	}
	root, i, _, err := ps.startTag(i)
	if err != nil {
		return nil, i, err
	}
	for len(ps.stack) > 0 {
		if i >= len(p) {
			return nil, i, errNotWellFormed("unexpected end of data")
		}
		if p[i] == '<' && !hasCDATA(p[i:]) {
			if i+1 < len(p) && p[i+1] == '/' {
				i, err = ps.endTag(i)
			} else {
				if err := checkMarkup(p, i); err != nil {
					return nil, i, err
				}
				_, i, _, err = ps.startTag(i)
			}
		} else {
			var t string
			t, i, err = ps.text(i)
			if t != "" {
				ps.scratch = append(ps.scratch, Node{Text: t})
			}
		}
		if err != nil {
			return nil, i, err
		}
	}
	return root, i, nil
}

// checkMarkup checks that p[i:] starts with '<' followed by a name start
// and reports the right error if not.
func checkMarkup(p []byte, i int) error {
	if i >= len(p) || p[i] != '<' {
		return errNotWellFormed("expected an element")
	}
	if i+1 >= len(p) {
		return errNotWellFormed("unexpected end of data")
	}
	switch p[i+1] {
	case '!':
		return errBang(p[i+2:])
	case '?':
		return errRestricted("processing instructions are not allowed")
	case '/':
		return errNotWellFormed("unexpected end tag")
	}
	return nil
}

func hasCDATA(p []byte) bool {
	return len(p) >= 9 && string(p[:9]) == "<![CDATA["
}

// qname parses a qualified name at p[i]: the prefix is p[i:pe] (empty if
// there is none) and the local name p[ls:end].
func (ps *parser) qname(i int) (pe, ls, end int, err error) {
	p := ps.p
	j, ok := scanNCName(p, i)
	if !ok {
		return i, i, i, errNotWellFormed("invalid name")
	}
	if j < len(p) && p[j] == ':' {
		k, ok := scanNCName(p, j+1)
		if !ok {
			return i, i, j, errNotWellFormed("invalid name")
		}
		return j, j + 1, k, nil
	}
	return i, i, j, nil
}

// lookup returns the namespace bound to prefix.
func (ps *parser) lookup(prefix string) (string, bool) {
	for k := len(ps.bindings) - 1; k >= 0; k-- {
		if ps.bindings[k].prefix == prefix {
			return ps.bindings[k].uri, true
		}
	}
	if prefix == "xml" {
		return NSXML, true
	}
	return "", false
}

// startTag parses the start tag at p[i] (checked by checkMarkup), resolves
// its namespaces and appends the new element to the children of the
// innermost open element. Unless the tag is an empty-element tag, the
// element is pushed onto the stack with its declarations in scope.
func (ps *parser) startTag(i int) (el *Element, end int, empty bool, err error) {
	p := ps.p
	qs := i + 1
	pe, ls, i, err := ps.qname(qs)
	if err != nil {
		return nil, i, false, err
	}
	qe := i
	prefix, local := str(p[qs:pe]), str(p[ls:qe])
	ps.raw = ps.raw[:0]
	for {
		ws := i
		i = skipWS(p, i)
		if i >= len(p) {
			return nil, i, false, errNotWellFormed("unexpected end of data")
		}
		c := p[i]
		if c == '>' {
			i++
			break
		}
		if c == '/' {
			if i+1 < len(p) && p[i+1] == '>' {
				i += 2
				empty = true
				break
			}
			return nil, i, false, errNotWellFormed("expected '>' after '/'")
		}
		if i == ws {
			return nil, i, false, errNotWellFormed("expected whitespace before attribute")
		}
		var a rawAttr
		a.ps = i
		a.pe, a.ls, i, err = ps.qname(i)
		a.le = i
		if err != nil {
			return nil, i, false, err
		}
		i = skipWS(p, i)
		if i >= len(p) || p[i] != '=' {
			return nil, i, false, errNotWellFormed("expected '=' after attribute name")
		}
		i = skipWS(p, i+1)
		if i >= len(p) || (p[i] != '"' && p[i] != '\'') {
			return nil, i, false, errNotWellFormed("attribute value must be quoted")
		}
		a.vs = i + 1
		a.ve, i, err = ps.attrValue(i)
		if err != nil {
			return nil, i, false, err
		}
		ps.raw = append(ps.raw, a)
	}

	// Namespace declarations.
	nsMark, prevDef := len(ps.bindings), ps.defNS
	nattr, defDecl := 0, false
	for k := range ps.raw {
		a := &ps.raw[k]
		switch a.kind(p) {
		case attrDefaultDecl:
			if defDecl {
				return nil, i, false, errNotWellFormed("duplicate attribute")
			}
			v := str(p[a.vs:a.ve])
			if v == NSXML || v == NSXMLNS {
				return nil, i, false, errNotWellFormed("reserved namespace as default namespace")
			}
			defDecl = true
			ps.defNS = v
		case attrPrefixDecl:
			pfx, v := str(p[a.ls:a.le]), str(p[a.vs:a.ve])
			if err := checkPrefixDecl(pfx, v); err != nil {
				return nil, i, false, err
			}
			for _, b := range ps.bindings[nsMark:] {
				if b.prefix == pfx {
					return nil, i, false, errNotWellFormed("duplicate attribute")
				}
			}
			if len(ps.bindings) >= maxBindings {
				return nil, i, false, errPolicy("too many namespace prefixes in scope")
			}
			// xmlns:xml is redundant but legal; record it anyway so
			// that a second one is caught as a duplicate.
			ps.bindings = append(ps.bindings, binding{prefix: pfx, uri: v})
		default:
			nattr++
		}
	}

	el = ps.newElement()
	el.Name.Local = local
	if prefix == "" {
		el.Name.Space = ps.defNS
	} else {
		uri, ok := ps.lookup(prefix)
		if !ok || prefix == "xmlns" {
			return nil, i, false, errNotWellFormed("undeclared namespace prefix")
		}
		el.Name.Space = uri
	}

	if nattr > 0 {
		attrs := ps.newAttrs(nattr)
		n := 0
		for k := range ps.raw {
			a := &ps.raw[k]
			if a.kind(p) != attrPlain {
				continue
			}
			at := &attrs[n]
			at.Name.Local = str(p[a.ls:a.le])
			at.Value = str(p[a.vs:a.ve])
			if a.pe > a.ps {
				uri, ok := ps.lookup(str(p[a.ps:a.pe]))
				if !ok {
					return nil, i, false, errNotWellFormed("undeclared namespace prefix")
				}
				at.Name.Space = uri
			}
			n++
		}
		if err := checkDupAttrs(attrs); err != nil {
			return nil, i, false, err
		}
		el.Attr = attrs
	}

	if len(ps.stack) > 0 {
		ps.scratch = append(ps.scratch, Node{El: el})
	}
	if empty {
		ps.bindings = ps.bindings[:nsMark]
		ps.defNS = prevDef
	} else {
		ps.stack = append(ps.stack, frame{el: el, qs: qs, qe: qe, nsMark: nsMark, defNS: prevDef, childBase: len(ps.scratch)})
	}
	return el, i, empty, nil
}

// Kinds of attributes.
const (
	attrPlain       = iota
	attrDefaultDecl // xmlns='…'
	attrPrefixDecl  // xmlns:p='…'
)

func (a *rawAttr) kind(p []byte) int {
	switch {
	case a.pe == a.ps:
		if string(p[a.ls:a.le]) == "xmlns" {
			return attrDefaultDecl
		}
	case string(p[a.ps:a.pe]) == "xmlns":
		return attrPrefixDecl
	}
	return attrPlain
}

// checkPrefixDecl checks xmlns:prefix='uri' against Namespaces in XML 1.0.
func checkPrefixDecl(prefix, uri string) error {
	switch {
	case uri == "":
		return errNotWellFormed("empty namespace in prefix declaration")
	case prefix == "xmlns":
		return errNotWellFormed("the xmlns prefix must not be declared")
	case prefix == "xml" && uri != NSXML, prefix != "xml" && uri == NSXML:
		return errNotWellFormed("the xml prefix is bound to the XML namespace only")
	case uri == NSXMLNS:
		return errNotWellFormed("the xmlns namespace must not be declared")
	}
	return nil
}

// checkDupAttrs reports attributes with the same expanded name.
func checkDupAttrs(attrs []Attr) error {
	if len(attrs) <= 16 {
		for k := 1; k < len(attrs); k++ {
			for m := range k {
				if attrs[m].Name == attrs[k].Name {
					return errNotWellFormed("duplicate attribute")
				}
			}
		}
		return nil
	}
	seen := make(map[Name]struct{}, len(attrs))
	for k := range attrs {
		if _, ok := seen[attrs[k].Name]; ok {
			return errNotWellFormed("duplicate attribute")
		}
		seen[attrs[k].Name] = struct{}{}
	}
	return nil
}

// endTag parses the end tag at p[i] ("</"), which must close the innermost
// open element, and finishes that element.
func (ps *parser) endTag(i int) (int, error) {
	p := ps.p
	top := &ps.stack[len(ps.stack)-1]
	qn := p[top.qs:top.qe]
	j := i + 2
	if !bytes.HasPrefix(p[j:], qn) {
		return i, errNotWellFormed("mismatched end tag")
	}
	j = skipWS(p, j+len(qn))
	if j >= len(p) {
		return j, errNotWellFormed("unexpected end of data")
	}
	if p[j] != '>' {
		return j, errNotWellFormed("mismatched end tag")
	}
	if n := len(ps.scratch) - top.childBase; n > 0 {
		top.el.Children = ps.newNodes(n)
		copy(top.el.Children, ps.scratch[top.childBase:])
		ps.scratch = ps.scratch[:top.childBase]
	}
	ps.bindings = ps.bindings[:top.nsMark]
	ps.defNS = top.defNS
	ps.stack = ps.stack[:len(ps.stack)-1]
	return j + 1, nil
}

// attrValue parses the quoted attribute value at p[i], unescaping and
// normalizing it in place to p[i+1:ve].
func (ps *parser) attrValue(i int) (ve, end int, err error) {
	p := ps.p
	q := p[i]
	i++
	w := i
	for {
		j := i
		for j < len(p) && charClass[p[j]]&cAttr == 0 {
			j++
		}
		if w != i {
			copy(p[w:], p[i:j])
		}
		w += j - i
		i = j
		if i >= len(p) {
			return 0, i, errNotWellFormed("unexpected end of data")
		}
		switch c := p[i]; {
		case c == q:
			return w, i + 1, nil
		case c == '"' || c == '\'':
			p[w] = c
			w++
			i++
		case c == '&':
			r, n, err := ref(p[i:])
			if err != nil {
				return 0, i, err
			}
			w += utf8.EncodeRune(p[w:], r)
			i += n
		case c == '<':
			return 0, i, errNotWellFormed("'<' in attribute value")
		case c == '\t' || c == '\n':
			p[w] = ' '
			w++
			i++
		case c == '\r':
			p[w] = ' '
			w++
			i++
			if i < len(p) && p[i] == '\n' {
				i++
			}
		case c < 0x20:
			return 0, i, errNotWellFormed("illegal character")
		default:
			n := decodeChar(p[i:])
			if n == 0 {
				return 0, i, errNotWellFormed("invalid UTF-8 or illegal character")
			}
			if w != i {
				copy(p[w:], p[i:i+n])
			}
			w += n
			i += n
		}
	}
}

// text parses character data at p[i] up to the next markup other than a
// CDATA section (or the end of p), unescaping it in place. Adjacent text,
// references and CDATA sections make one string.
func (ps *parser) text(i int) (string, int, error) {
	p := ps.p
	start, w := i, i
	for {
		j := i
		for j < len(p) && charClass[p[j]]&cText == 0 {
			j++
		}
		if w != i {
			copy(p[w:], p[i:j])
		}
		w += j - i
		i = j
		if i >= len(p) {
			break
		}
		c := p[i]
		if c == '<' {
			if !hasCDATA(p[i:]) {
				break
			}
			var err error
			w, i, err = cdata(p, w, i+9)
			if err != nil {
				return "", i, err
			}
			continue
		}
		switch {
		case c == '&':
			r, n, err := ref(p[i:])
			if err != nil {
				return "", i, err
			}
			w += utf8.EncodeRune(p[w:], r)
			i += n
		case c == ']':
			if i+2 < len(p) && p[i+1] == ']' && p[i+2] == '>' {
				return "", i, errNotWellFormed("']]>' in character data")
			}
			p[w] = c
			w++
			i++
		case c == '\r':
			p[w] = '\n'
			w++
			i++
			if i < len(p) && p[i] == '\n' {
				i++
			}
		case c < 0x20:
			return "", i, errNotWellFormed("illegal character")
		default:
			n := decodeChar(p[i:])
			if n == 0 {
				return "", i, errNotWellFormed("invalid UTF-8 or illegal character")
			}
			if w != i {
				copy(p[w:], p[i:i+n])
			}
			w += n
			i += n
		}
	}
	return str(p[start:w]), i, nil
}

// cdata copies the content of the CDATA section starting at p[i] (after
// "<![CDATA[") to p[w:] and returns the new write and read positions.
func cdata(p []byte, w, i int) (int, int, error) {
	for {
		j := i
		for j < len(p) && charClass[p[j]]&cCDATA == 0 {
			j++
		}
		if w != i {
			copy(p[w:], p[i:j])
		}
		w += j - i
		i = j
		if i >= len(p) {
			return w, i, errNotWellFormed("unexpected end of data in CDATA section")
		}
		switch c := p[i]; {
		case c == ']':
			if i+2 < len(p) && p[i+1] == ']' && p[i+2] == '>' {
				return w, i + 3, nil
			}
			p[w] = c
			w++
			i++
		case c == '\r':
			p[w] = '\n'
			w++
			i++
			if i < len(p) && p[i] == '\n' {
				i++
			}
		case c < 0x20:
			return w, i, errNotWellFormed("illegal character")
		default:
			n := decodeChar(p[i:])
			if n == 0 {
				return w, i, errNotWellFormed("invalid UTF-8 or illegal character")
			}
			if w != i {
				copy(p[w:], p[i:i+n])
			}
			w += n
			i += n
		}
	}
}

// ref parses the entity or character reference at the start of p ('&') and
// returns the character and the reference's length. Unknown named entities
// are restricted-xml (RFC 6120 §11.1 forbids entity declarations, so such a
// reference can only be an attempt to use one); malformed references are
// not-well-formed.
func ref(p []byte) (rune, int, error) {
	if len(p) > 1 && p[1] == '#' {
		k, base := 2, rune(10)
		if len(p) > 2 && p[2] == 'x' {
			k, base = 3, 16
		}
		var r rune
		digits := 0
		for ; k < len(p); k++ {
			c := p[k]
			var v rune
			switch {
			case c >= '0' && c <= '9':
				v = rune(c - '0')
			case base == 16 && c >= 'a' && c <= 'f':
				v = rune(c-'a') + 10
			case base == 16 && c >= 'A' && c <= 'F':
				v = rune(c-'A') + 10
			case c == ';' && digits > 0:
				if !isXMLChar(r) {
					return 0, 0, errNotWellFormed("character reference to an illegal character")
				}
				return r, k + 1, nil
			default:
				return 0, 0, errNotWellFormed("malformed character reference")
			}
			r = r*base + v
			if r > utf8.MaxRune {
				return 0, 0, errNotWellFormed("character reference out of range")
			}
			digits++
		}
		return 0, 0, errNotWellFormed("malformed character reference")
	}
	end, ok := scanNCName(p, 1)
	if !ok || end >= len(p) || p[end] != ';' {
		return 0, 0, errNotWellFormed("malformed entity reference")
	}
	var r rune
	switch string(p[1:end]) {
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "amp":
		r = '&'
	case "apos":
		r = '\''
	case "quot":
		r = '"'
	default:
		return 0, 0, errRestricted("undeclared entity")
	}
	return r, end + 1, nil
}

// parserPool holds parsers and their scratch space: Parse's, and those of
// released Decoders.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

// Parse parses one standalone element, such as one read back from storage,
// with the same restricted-XML rules as a Decoder. defaultNS is the default
// namespace in scope (the element gets it if it declares none); only the xml
// prefix is predefined. Whitespace may surround the element; anything else
// is an error. Parse applies no size or depth limit (the bound of 64
// namespace prefixes in scope still holds).
//
// The returned tree does not share memory with data.
func Parse(data []byte, defaultNS string) (*Element, error) {
	i := skipWS(data, 0)
	j := len(data)
	for j > i && charClass[data[j-1]]&cWS != 0 {
		j--
	}
	if i == j {
		return nil, errNotWellFormed("no element")
	}
	if data[i] != '<' {
		return nil, errNotWellFormed("character data outside the element")
	}
	p := make([]byte, j-i)
	copy(p, data[i:j])

	// Upper bounds for the slabs; the parser copes with wrong hints.
	tags := bytes.Count(p, []byte{'<'})
	elems := tags - bytes.Count(p, []byte("</"))
	attrs := bytes.Count(p, []byte{'='})

	ps := parserPool.Get().(*parser)
	ps.begin(p, 0, defaultNS, elems, attrs, tags)
	el, end, err := ps.element(0)
	ps.finish(0)
	parserPool.Put(ps)
	if err != nil {
		return nil, err
	}
	if end != len(p) {
		return nil, errNotWellFormed("data after the element")
	}
	return el, nil
}
