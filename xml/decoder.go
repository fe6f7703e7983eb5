package xml

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
)

// Limits bound what a Decoder accepts. Exceeding one is a policy-violation
// SyntaxError.
type Limits struct {
	// MaxStanzaSize is the size in bytes of one top-level element including
	// its children (the whitespace between top-level elements does not
	// count). 0 means 256 KiB.
	MaxStanzaSize int
	// MaxDepth is the element nesting depth allowed inside a top-level
	// element, counting the top-level element itself as depth 1:
	// <message><body/></message> has depth 2. 0 means 64.
	MaxDepth int
}

// Default limits, and the fixed bound on the stream header (XML
// declaration included).
const (
	DefaultMaxStanzaSize = 256 << 10
	DefaultMaxDepth      = 64
	MaxHeaderSize        = 8 << 10
)

// StreamHeader is the opening <stream:stream> element.
type StreamHeader struct {
	// Name is {http://etherx.jabber.org/streams, stream} for a valid stream.
	Name Name
	// Attr holds the attributes (to, from, version, id; xml:lang has the
	// name {http://www.w3.org/XML/1998/namespace, lang}). Namespace
	// declarations are not attributes.
	Attr []Attr
	// DefaultNS is the default namespace declared on the header (e.g.
	// jabber:client, jabber:server, jabber:component:accept), "" if none.
	// The Decoder does not check it: whether it is acceptable depends on
	// the kind of connection.
	DefaultNS string
}

// AttrValue returns the value of the unqualified attribute local, or "".
func (h *StreamHeader) AttrValue(local string) string {
	for i := range h.Attr {
		if h.Attr[i].Name.Space == "" && h.Attr[i].Name.Local == local {
			return h.Attr[i].Value
		}
	}
	return ""
}

// Lang returns the xml:lang attribute, or "".
func (h *StreamHeader) Lang() string {
	for i := range h.Attr {
		if h.Attr[i].Name == (Name{Space: NSXML, Local: "lang"}) {
			return h.Attr[i].Value
		}
	}
	return ""
}

const poolBufSize = 4 << 10

// bufPool holds read buffers of poolBufSize bytes.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, poolBufSize)
	return &b
}}

// Framer states. Between top-level elements the Decoder only looks for the
// end of each element (tags, quoted attribute values, CDATA sections), its
// depth and its size; the element is parsed once it is complete.
const (
	stTop       uint8 = iota // between top-level elements
	stTopLt                  // after '<' between top-level elements
	stTopBang                // after "<!" between top-level elements
	stStreamEnd              // in </stream:stream>
	stText                   // in character data
	stLt                     // after '<' in an element
	stStartTag               // in a start tag
	stAttrVal                // in a quoted attribute value
	stEndTag                 // in an end tag
	stBang                   // after "<!" in an element: must be "<![CDATA["
	stCDATA                  // in a CDATA section

	// Header states.
	hStart  // at the start of the stream (a BOM is allowed)
	hStart2 // after a BOM
	hLt     // after the first '<' (an XML declaration is allowed)
	hDecl   // in the XML declaration
	hMisc   // in whitespace before the stream header
	hMiscLt // after '<' following whitespace
	hTag    // in the stream header
	hAttr   // in a quoted attribute value of the stream header
)

// A Decoder reads the XML of one XMPP stream: the stream header and then the
// top-level elements (stanzas, stream features, SASL and TLS negotiation
// elements…) one at a time. It enforces the restricted XML of RFC 6120
// §11 and the Limits.
//
// Input may arrive in pieces of any size: Next returns as soon as the last
// byte of an element has been read, and never reads ahead past it waiting
// for more. While an element is incomplete, the Decoder tracks only its
// structure; the limits, mismatched end tags, comments, processing
// instructions, DTDs and non-whitespace text between elements are reported
// as soon as their first bytes arrive, other errors when the element is
// complete. The results never depend on how the input was split.
//
// Errors: a *SyntaxError ends the stream and is returned again by every
// later call. Errors of the underlying reader are returned as they are (an
// io.EOF inside an element or the header becomes io.ErrUnexpectedEOF) and
// are not sticky: after a read deadline expired, for instance, Next may be
// called again and continues where it stopped.
//
// A Decoder is not safe for concurrent use. The Elements it returns share no
// memory with it and may be kept and handed to other goroutines.
type Decoder struct {
	r         io.Reader
	maxStanza int
	maxDepth  int

	bufp  *[]byte // the buffer's pool handle if it came from bufPool
	buf   []byte  // len(buf) == cap(buf); data is buf[start:end]
	start int     // start of the unconsumed data (of the element being framed)
	scan  int     // the framer has looked at buf[start:scan]
	end   int
	rerr  error // read error deferred until the bytes read with it are used
	err   error // sticky syntax error

	// Framer state, saved between reads.
	st       uint8
	quote    byte
	sub      uint8 // bytes of "[CDATA[" matched, or ']' seen in CDATA
	textSeen bool  // character data seen since the last markup
	depth    int
	mark     int   // header: offset from start of the current declaration or tag
	nElem    int   // start tags in the element being framed
	nAttr    int   // quoted values in it
	nText    int   // character data runs in it
	tagStart int   // offset from start of the '<' of the current tag
	open     []int // offsets from start of the open elements' start tags

	header    bool      // the header has been read
	ended     bool      // </stream:stream> has been read
	streamTag string    // the header's qualified name, for the end tag
	baseLen   int       // the header's bindings are ps.bindings[:baseLen]
	base      []binding // a copy of them, to load into a parser taken from the pool
	baseDef   string    // the header's default namespace
	ps        *parser   // from parserPool; nil after Release
}

// intern returns a copy of s that shares no memory with parsed input; the
// usual stream namespaces are not copied.
func intern(s string) string {
	switch s {
	case NSStream:
		return NSStream
	case "jabber:client":
		return "jabber:client"
	case "jabber:server":
		return "jabber:server"
	case "stream":
		return "stream"
	case "stream:stream":
		return "stream:stream"
	}
	return strings.Clone(s)
}

// parser returns the Decoder's parser, taking one from the pool, with the
// header's bindings, if it has none.
func (d *Decoder) parser() *parser {
	if d.ps == nil {
		ps := parserPool.Get().(*parser)
		ps.bindings = append(ps.bindings[:0], d.base...)
		d.ps = ps
	}
	return d.ps
}

// NewDecoder returns a Decoder reading a stream from r with the given
// limits (zero fields get the defaults).
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	d := &Decoder{r: r, maxStanza: lim.MaxStanzaSize, maxDepth: lim.MaxDepth}
	if d.maxStanza <= 0 {
		d.maxStanza = DefaultMaxStanzaSize
	}
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	d.st = hStart
	return d
}

// Reset makes d read a new stream from r (after STARTTLS or a SASL stream
// restart), keeping its buffers and limits. Unread buffered input is
// discarded: after STARTTLS it is plaintext that must never be mixed into
// the encrypted stream (check Buffered before resetting to detect it).
func (d *Decoder) Reset(r io.Reader) {
	d.r = r
	d.start, d.scan, d.end = 0, 0, 0
	d.rerr, d.err = nil, nil
	d.st, d.quote, d.sub, d.textSeen, d.depth, d.mark = hStart, 0, 0, false, 0, 0
	d.header, d.ended, d.streamTag, d.baseDef = false, false, "", ""
	if d.ps != nil {
		d.ps.drop(0)
	}
	d.baseLen, d.base = 0, nil
}

// Buffered returns the number of bytes read from the underlying reader but
// not consumed yet (part of an element not complete yet, or input sent
// after the last element returned).
func (d *Decoder) Buffered() int { return d.end - d.start }

// Quiet reports whether d is between top-level elements with nothing
// buffered and no deferred read error: a caller that waits for the
// underlying connection to become readable before calling Next again loses
// nothing (after Release, d then holds no read buffer at all).
func (d *Decoder) Quiet() bool {
	return d.start == d.end && d.rerr == nil && d.err == nil && d.st == stTop && d.header && !d.ended
}

// Release drops the Decoder's read buffer (back into a pool) and its
// parsing scratch space so that an idle connection holds little memory; the
// next read takes them again. Unconsumed input is kept in a small private
// copy. Call it when a read timed out or before a long wait, not between
// every two elements.
func (d *Decoder) Release() {
	if d.ps != nil {
		d.ps.drop(0)
		parserPool.Put(d.ps)
		d.ps = nil
	}
	if d.buf == nil {
		return
	}
	var keep []byte
	if n := d.end - d.start; n > 0 {
		keep = make([]byte, n)
		copy(keep, d.buf[d.start:d.end])
	}
	d.putBuf()
	d.buf = keep
	d.scan -= d.start
	d.end -= d.start
	d.start = 0
}

// putBuf returns the buffer to the pool if it came from it, and drops it.
func (d *Decoder) putBuf() {
	if d.bufp != nil {
		*d.bufp = (*d.bufp)[:cap(*d.bufp)]
		bufPool.Put(d.bufp)
		d.bufp = nil
	}
	d.buf = nil
}

// takeBuf replaces the buffer by a pool buffer, moving the unconsumed data
// to its start. The data must fit.
func (d *Decoder) takeBuf() {
	bp := bufPool.Get().(*[]byte)
	nb := *bp
	n := copy(nb, d.buf[d.start:d.end])
	d.putBuf()
	d.bufp, d.buf = bp, nb
	d.scan -= d.start
	d.start, d.end = 0, n
}

// fill reads more input into the buffer.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		err := d.rerr
		d.rerr = nil
		return err
	}
	if d.r == nil {
		return io.EOF
	}
	if d.start == d.end {
		d.start, d.scan, d.end = 0, 0, 0
	}
	if len(d.buf) < poolBufSize && d.end-d.start <= poolBufSize {
		d.takeBuf()
	}
	if d.end == len(d.buf) && d.start > 0 {
		copy(d.buf, d.buf[d.start:d.end])
		d.scan -= d.start
		d.end -= d.start
		d.start = 0
	}
	if d.end == len(d.buf) {
		// The element being framed fills the buffer: grow it, up to what
		// the limits can require (the framer fails before more is needed).
		n := 2 * len(d.buf)
		if lim := max(d.maxStanza, MaxHeaderSize) + 1; n > lim {
			n = lim
		}
		if n <= d.end {
			n = d.end + poolBufSize
		}
		nb := make([]byte, n)
		copy(nb, d.buf[:d.end])
		d.putBuf()
		d.buf = nb
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		if n < 0 || n > len(d.buf)-d.end {
			return errors.New("xml: reader returned an invalid count")
		}
		d.end += n
		if n > 0 {
			d.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// fail records a syntax error; it ends the stream.
func (d *Decoder) fail(err error) error {
	d.err = err
	return err
}

// Header reads an optional UTF-8 byte order mark and XML declaration
// (<?xml version='1.0'?>, optionally with encoding='UTF-8' and standalone)
// and the stream header. It must be called once before Next, and again
// after each Reset.
//
// A header whose name is not {http://etherx.jabber.org/streams, stream} is
// an invalid-namespace SyntaxError; the parsed header is returned along
// with it so that the reply can still be addressed. The header is bounded
// by MaxHeaderSize.
func (d *Decoder) Header() (*StreamHeader, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.header {
		return nil, errors.New("xml: stream header already read")
	}
	var k int
	for {
		var err error
		k, err = d.frameHeader()
		if err != nil {
			return nil, d.fail(err)
		}
		if k > 0 {
			break
		}
		if err := d.fill(); err != nil {
			if errors.Is(err, io.EOF) && (d.end > d.start || d.st != hStart) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}

	tag := d.buf[d.start+d.mark : k]
	p := make([]byte, len(tag))
	copy(p, tag)
	d.start, d.scan = k, k
	d.st = stTop
	d.header = true

	ps := d.parser()
	ps.finish(0)
	ps.begin(p, 0, "", 1, bytes.Count(p, []byte{'='}), 0)
	el, next, empty, err := ps.startTag(0)
	if err == nil && next != len(p) {
		err = errNotWellFormed("invalid stream header")
	}
	if err != nil {
		ps.finish(0)
		return nil, d.fail(err)
	}
	h := &StreamHeader{Name: el.Name, Attr: el.Attr, DefaultNS: ps.defNS}
	if empty {
		// <stream:stream/>: an empty stream. Its declarations were popped
		// already; find the default namespace in the raw attributes.
		for _, a := range ps.raw {
			if a.kind(p) == attrDefaultDecl {
				h.DefaultNS = str(p[a.vs:a.ve])
			}
		}
		d.ended = true
	} else {
		f := ps.stack[0]
		d.streamTag = intern(str(p[f.qs:f.qe]))
		// The base bindings outlive the header's bytes: copy their
		// strings, so that the Decoder does not keep the bytes.
		d.baseLen, d.baseDef = len(ps.bindings), intern(ps.defNS)
		d.base = make([]binding, len(ps.bindings))
		for i, b := range ps.bindings {
			d.base[i] = binding{prefix: intern(b.prefix), uri: intern(b.uri)}
		}
	}
	ps.finish(d.baseLen)
	if h.Name != (Name{Space: NSStream, Local: "stream"}) {
		return h, d.fail(&SyntaxError{Condition: CondInvalidNamespace, Msg: "the stream element must be {" + NSStream + "}stream"})
	}
	return h, nil
}

// frameHeader advances the header framer. It returns the index just past
// the stream header once it is complete, or 0 if more input is needed.
func (d *Decoder) frameHeader() (int, error) {
	buf := d.buf[:d.end]
	i, st := d.scan, d.st
	limit := d.start + MaxHeaderSize
	end := min(len(buf), limit)
	defer func() { d.scan, d.st = i, st }()
	for i < end {
		c := buf[i]
		switch st {
		case hStart:
			if c == 0xEF {
				if end-i < 3 {
					if len(buf) > end {
						return 0, errPolicy("stream header too large")
					}
					return 0, nil
				}
				if buf[i+1] != 0xBB || buf[i+2] != 0xBF {
					return 0, errNotWellFormed("invalid byte order mark")
				}
				i += 3
				st = hStart2
				continue
			}
			fallthrough
		case hStart2:
			switch {
			case c == '<':
				st = hLt
			case charClass[c]&cWS != 0:
				st = hMisc
			default:
				return 0, errNotWellFormed("expected the stream header")
			}
			i++
		case hLt, hMiscLt:
			switch c {
			case '?':
				if st == hMiscLt {
					return 0, errRestricted("processing instructions are not allowed")
				}
				st = hDecl
			case '!':
				return 0, errRestricted("DTDs and comments are not allowed")
			case '/':
				return 0, errNotWellFormed("expected the stream header")
			default:
				st = hTag
				d.mark = i - 1 - d.start
				continue // the name is scanned in hTag
			}
			d.mark = i - 1 - d.start
			i++
		case hDecl:
			j := bytes.IndexByte(buf[i:end], '>')
			if j < 0 {
				i = end
				continue
			}
			i += j + 1
			if err := checkDecl(buf[d.start+d.mark : i]); err != nil {
				return 0, err
			}
			st = hMisc
		case hMisc:
			i = skipWS(buf[:end], i)
			if i == end {
				continue
			}
			if buf[i] != '<' {
				return 0, errNotWellFormed("expected the stream header")
			}
			st = hMiscLt
			i++
		case hTag:
			for i < end && buf[i] != '>' && buf[i] != '"' && buf[i] != '\'' {
				i++
			}
			if i == end {
				continue
			}
			if buf[i] == '>' {
				i++
				return i, nil
			}
			d.quote = buf[i]
			st = hAttr
			i++
		case hAttr:
			j := bytes.IndexByte(buf[i:end], d.quote)
			if j < 0 {
				i = end
				continue
			}
			i += j + 1
			st = hTag
		}
	}
	if len(buf) > limit {
		return 0, errPolicy("stream header too large")
	}
	return 0, nil
}

// checkDecl checks an XML declaration, "<?xml … ?>". Any other processing
// instruction is restricted-xml.
func checkDecl(b []byte) error {
	const pre = "<?xml"
	if len(b) <= len(pre) || string(b[:len(pre)]) != pre || charClass[b[len(pre)]]&cWS == 0 {
		return errRestricted("processing instructions are not allowed")
	}
	if b[len(b)-2] != '?' {
		return errNotWellFormed("malformed XML declaration")
	}
	b = b[len(pre) : len(b)-2]
	i, field := 0, 0
	for {
		ws := i
		i = skipWS(b, i)
		if i == len(b) {
			break
		}
		if i == ws {
			return errNotWellFormed("malformed XML declaration")
		}
		j := i
		for j < len(b) && b[j] >= 'a' && b[j] <= 'z' {
			j++
		}
		name := string(b[i:j])
		i = skipWS(b, j)
		if i == len(b) || b[i] != '=' {
			return errNotWellFormed("malformed XML declaration")
		}
		i = skipWS(b, i+1)
		if i == len(b) || (b[i] != '\'' && b[i] != '"') {
			return errNotWellFormed("malformed XML declaration")
		}
		k := bytes.IndexByte(b[i+1:], b[i])
		if k < 0 {
			return errNotWellFormed("malformed XML declaration")
		}
		v := b[i+1 : i+1+k]
		i += k + 2
		switch {
		case name == "version" && field == 0:
			if len(v) < 3 || v[0] != '1' || v[1] != '.' || !allDigits(v[2:]) {
				return errNotWellFormed("unsupported XML version")
			}
			field = 1
		case name == "encoding" && field == 1:
			if !bytes.EqualFold(v, []byte("UTF-8")) {
				return &SyntaxError{Condition: CondUnsupportedEncoding, Msg: "only UTF-8 is supported"}
			}
			field = 2
		case name == "standalone" && field >= 1 && field <= 2:
			if string(v) != "yes" && string(v) != "no" {
				return errNotWellFormed("malformed XML declaration")
			}
			field = 3
		default:
			return errNotWellFormed("malformed XML declaration")
		}
	}
	if field == 0 {
		return errNotWellFormed("XML declaration without version")
	}
	return nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// Next returns the next top-level element of the stream, namespace-resolved:
// a top-level element without its own default namespace declaration gets
// the stream's DefaultNS, and prefixes declared on the stream header are in
// scope. Whitespace between top-level elements (keepalives) is skipped
// however long it is. At </stream:stream> Next returns ErrStreamEnd (and
// keeps returning it); an end of input between elements is io.EOF, inside
// one io.ErrUnexpectedEOF.
//
// The returned tree is the caller's: it shares no memory with the Decoder,
// is never modified by later calls, and may be kept and passed to other
// goroutines. Its strings are views of one private copy of the element's
// bytes, and its Elements, Attrs and Nodes come from a few shared arrays
// (with capacities clipped, so appending to Attr or Children reallocates
// instead of overwriting a neighbour): keeping any part of the tree keeps
// all of it alive. Copy a string (strings.Clone) to keep it without the
// rest. The Decoder's scratch space may reference the most recent tree
// until later calls reuse it or Release is called.
func (d *Decoder) Next() (*Element, error) {
	if d.err != nil {
		return nil, d.err
	}
	if !d.header {
		return nil, errors.New("xml: Next called before Header")
	}
	if d.ended {
		return nil, ErrStreamEnd
	}
	var k int
	for {
		var err error
		k, err = d.frame()
		if err != nil {
			if err == ErrStreamEnd {
				d.ended = true
				return nil, err
			}
			return nil, d.fail(err)
		}
		if k > 0 {
			break
		}
		if err := d.fill(); err != nil {
			if errors.Is(err, io.EOF) && d.st != stTop {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}

	p := make([]byte, k-d.start)
	copy(p, d.buf[d.start:k])
	d.start, d.scan = k, k
	if d.start == d.end {
		d.start, d.scan, d.end = 0, 0, 0
	}
	if d.bufp == nil && len(d.buf) > poolBufSize && d.end-d.start <= poolBufSize {
		// Do not keep a buffer grown for a large element.
		d.takeBuf()
	}

	ps := d.parser()
	ps.begin(p, d.baseLen, d.baseDef, d.nElem, d.nAttr, d.nElem-1+d.nText)
	el, end, err := ps.element(0)
	ps.finish(d.baseLen)
	if err == nil && end != len(p) {
		err = errNotWellFormed("malformed element")
	}
	if err != nil {
		return nil, d.fail(err)
	}
	return el, nil
}

const cdataOpen = "[CDATA["

// frame advances the element framer over the buffered input. It returns the
// index just past the end of a complete top-level element, or 0 if more
// input is needed. It fails as soon as the input cannot be a valid element
// (comments, DTDs and processing instructions at their first bytes,
// mismatched end tags at their '>'), or exceeds the limits. Its state is
// kept in d between calls, so each byte is looked at once however the input
// is split.
func (d *Decoder) frame() (int, error) {
	buf := d.buf[:d.end]
	i, st := d.scan, d.st
	if st == stTop {
		i = skipWS(buf, i)
		d.start, d.scan = i, i
		if i == len(buf) {
			return 0, nil
		}
		if buf[i] != '<' {
			return 0, errNotWellFormed("character data between top-level elements")
		}
		i++
		st = stTopLt
		d.depth, d.nElem, d.nAttr, d.nText, d.textSeen = 0, 0, 0, 0, false
		d.tagStart, d.open = 0, d.open[:0]
	}
	depth, nElem, nAttr, nText, textSeen := d.depth, d.nElem, d.nAttr, d.nText, d.textSeen
	quote, sub := d.quote, d.sub
	tagStart, open := d.tagStart, d.open
	limit := d.start + d.maxStanza
	end := min(len(buf), limit)
	done := false
loop:
	for i < end {
		switch st {
		case stText:
			j := bytes.IndexByte(buf[i:end], '<')
			if j < 0 {
				textSeen = true
				i = end
				break loop
			}
			if j > 0 || textSeen {
				nText++
				textSeen = false
			}
			i += j + 1
			st = stLt
		case stLt:
			tagStart = i - 1 - d.start
			switch buf[i] {
			case '/':
				st = stEndTag
				i++
			case '!':
				st = stBang
				sub = 0
				i++
			case '?':
				return 0, errRestricted("processing instructions are not allowed")
			default:
				if depth >= d.maxDepth {
					return 0, errPolicy("elements nested too deeply")
				}
				nElem++
				st = stStartTag
			}
		case stStartTag:
			for i < end && charClass[buf[i]]&cTagStop == 0 {
				i++
			}
			if i == end {
				break loop
			}
			if c := buf[i]; c != '>' {
				quote = c
				nAttr++
				st = stAttrVal
				i++
				continue
			}
			i++
			if buf[i-2] != '/' {
				depth++
				open = append(open, tagStart)
			} else if depth == 0 {
				done = true
				break loop
			}
			st = stText
		case stAttrVal:
			j := bytes.IndexByte(buf[i:end], quote)
			if j < 0 {
				i = end
				break loop
			}
			i += j + 1
			st = stStartTag
		case stEndTag:
			j := bytes.IndexByte(buf[i:end], '>')
			if j < 0 {
				i = end
				break loop
			}
			i += j + 1
			// Match the names now rather than when the element is
			// complete: a mismatch would keep the depth from ever
			// returning to zero.
			if depth == 0 || !endTagMatches(buf[d.start+open[depth-1]+1:], buf[d.start+tagStart+2:i-1]) {
				return 0, errNotWellFormed("mismatched end tag")
			}
			depth--
			open = open[:depth]
			if depth == 0 {
				done = true
				break loop
			}
			st = stText
		case stBang:
			if buf[i] != cdataOpen[sub] {
				return 0, errRestricted("comments, DTDs and markup declarations are not allowed")
			}
			i++
			sub++
			if int(sub) == len(cdataOpen) {
				st = stCDATA
				sub = 0
				nText++
			}
		case stCDATA:
			if sub == 0 {
				j := bytes.IndexByte(buf[i:end], ']')
				if j < 0 {
					i = end
					break loop
				}
				i += j + 1
				sub = 1
				continue
			}
			c := buf[i]
			i++
			switch {
			case c == ']':
				sub = 2
			case c == '>' && sub == 2:
				st = stText
				sub = 0
			default:
				sub = 0
			}
		case stTopLt:
			switch buf[i] {
			case '/':
				st = stStreamEnd
				i++
			case '!':
				st = stTopBang
				i++
			case '?':
				return 0, errRestricted("processing instructions are not allowed")
			default:
				nElem = 1
				st = stStartTag
			}
		case stTopBang:
			if buf[i] == '[' {
				return 0, errNotWellFormed("CDATA section between top-level elements")
			}
			return 0, errRestricted("comments, DTDs and markup declarations are not allowed")
		case stStreamEnd:
			j := bytes.IndexByte(buf[i:end], '>')
			if j < 0 {
				i = end
				break loop
			}
			i += j + 1
			name := buf[d.start+2 : i-1]
			for len(name) > 0 && charClass[name[len(name)-1]]&cWS != 0 {
				name = name[:len(name)-1]
			}
			if string(name) != d.streamTag {
				return 0, errNotWellFormed("mismatched end tag")
			}
			d.start, d.scan = i, i
			d.st = stTop
			return 0, ErrStreamEnd
		}
	}
	d.open = open
	if done {
		d.st = stTop
		d.nElem, d.nAttr, d.nText = nElem, nAttr, nText
		return i, nil
	}
	if i >= limit && len(buf) > limit {
		return 0, errPolicy("element too large")
	}
	d.scan, d.st = i, st
	d.depth, d.nElem, d.nAttr, d.nText, d.textSeen = depth, nElem, nAttr, nText, textSeen
	d.quote, d.sub, d.tagStart = quote, sub, tagStart
	return 0, nil
}

// endTagMatches reports whether the end tag name (what lies between "</"
// and '>') matches the start tag starting with start (after its '<'). The
// start tag is complete, so the byte after its name is available.
func endTagMatches(start, name []byte) bool {
	for len(name) > 0 && charClass[name[len(name)-1]]&cWS != 0 {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || len(start) <= len(name) || string(start[:len(name)]) != string(name) {
		return false
	}
	for _, c := range name {
		if charClass[c]&(cWS|cTagStop) != 0 || c == '/' {
			return false
		}
	}
	c := start[len(name)]
	return charClass[c]&cWS != 0 || c == '/' || c == '>'
}
