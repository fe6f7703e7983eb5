package websocket

import (
	"bytes"
	"errors"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/stream"
)

// NSFraming is the namespace of <open/> and <close/> (RFC 7395 §3.3.2).
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// Protocol is the WebSocket subprotocol (RFC 7395 §3.1).
const Protocol = "xmpp"

// Kinds of markup scanTag finds.
type tagKind int

const (
	tagStart   tagKind = iota // <a ...>
	tagEmpty                  // <a .../>
	tagEnd                    // </a>
	tagPI                     // <?...?>
	tagComment                // <!--...-->
	tagCDATA                  // <![CDATA[...]]>
)

var (
	errIncomplete = errors.New("websocket: incomplete markup")
	errMarkup     = errors.New("websocket: malformed markup")
)

// scanTag finds the markup that starts at b[i] == '<' and returns its kind
// and the index just past it; errIncomplete if b ends first. It checks
// only what the framing needs (where a tag ends, quotes in attributes); the
// session's XML decoder checks the rest.
func scanTag(b []byte, i int) (tagKind, int, error) {
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("<?")):
		return find(b, i+2, "?>", tagPI)
	case bytes.HasPrefix(rest, []byte("<!--")):
		return find(b, i+4, "-->", tagComment)
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return find(b, i+9, "]]>", tagCDATA)
	case len(rest) < 2 || (len(rest) < 9 && rest[1] == '!'):
		return 0, 0, errIncomplete
	case rest[1] == '!':
		return 0, 0, errMarkup // DOCTYPE and the like: forbidden (RFC 6120 §11.1)
	}
	kind := tagStart
	j := i + 1
	if b[j] == '/' {
		kind = tagEnd
		j++
	}
	var quote byte
	for ; j < len(b); j++ {
		c := b[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			return 0, 0, errMarkup
		case c == '>':
			if j == i+1 || (kind == tagEnd && j == i+2) {
				return 0, 0, errMarkup
			}
			if kind == tagStart && b[j-1] == '/' {
				kind = tagEmpty
			}
			return kind, j + 1, nil
		}
	}
	return 0, 0, errIncomplete
}

func find(b []byte, from int, end string, k tagKind) (tagKind, int, error) {
	n := bytes.Index(b[from:], []byte(end))
	if n < 0 {
		return 0, 0, errIncomplete
	}
	return k, from + n + len(end), nil
}

// scanElement returns the length of the element at the start of b (b[0] ==
// '<'): a start tag, content and its end tag, or an empty-element tag.
func scanElement(b []byte) (int, error) {
	depth := 0
	i := 0
	for {
		if depth > 0 {
			n := bytes.IndexByte(b[i:], '<')
			if n < 0 {
				return 0, errIncomplete
			}
			i += n
		} else if i >= len(b) || b[i] != '<' {
			return 0, errMarkup
		}
		kind, next, err := scanTag(b, i)
		if err != nil {
			return 0, err
		}
		switch kind {
		case tagStart:
			depth++
		case tagEnd:
			if depth == 0 {
				return 0, errMarkup
			}
			depth--
		case tagPI, tagComment, tagCDATA:
			if depth == 0 {
				return 0, errMarkup
			}
		}
		i = next
		if depth == 0 {
			return i, nil
		}
	}
}

// attr is one attribute of a tag, its value as written (still escaped).
type attr struct {
	name, value []byte
	quote       byte
}

// parseTag returns the name and attributes of a start or empty-element
// tag (tag is the whole markup, '<' to '>').
func parseTag(tag []byte) (name []byte, attrs []attr, err error) {
	end := len(tag) - 1
	if tag[end-1] == '/' {
		end--
	}
	i := 1
	for i < end && !isSpace(tag[i]) {
		i++
	}
	name = tag[1:i]
	if len(name) == 0 {
		return nil, nil, errMarkup
	}
	for {
		for i < end && isSpace(tag[i]) {
			i++
		}
		if i >= end {
			return name, attrs, nil
		}
		eq := bytes.IndexByte(tag[i:end], '=')
		if eq <= 0 {
			return nil, nil, errMarkup
		}
		a := attr{name: bytes.TrimRight(tag[i:i+eq], " \t\r\n")}
		i += eq + 1
		for i < end && isSpace(tag[i]) {
			i++
		}
		if i >= end || (tag[i] != '"' && tag[i] != '\'') {
			return nil, nil, errMarkup
		}
		a.quote = tag[i]
		q := bytes.IndexByte(tag[i+1:end], a.quote)
		if q < 0 {
			return nil, nil, errMarkup
		}
		a.value = tag[i+1 : i+1+q]
		attrs = append(attrs, a)
		i += q + 2
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func attrValue(as []attr, name string) ([]byte, bool) {
	for _, a := range as {
		if string(a.name) == name {
			return a.value, true
		}
	}
	return nil, false
}

func trimSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// frameError is the stream error for a WebSocket message that breaks the
// framing rules.
func frameError(text string) *stream.Error {
	return &stream.Error{Condition: stream.NotWellFormed, Text: text}
}

// Inbound translates one text message from the client into the bytes of a
// classic XML stream, appended to dst: <open/> becomes a stream header,
// <close/> the end of the stream, and any other single element passes
// through. A message breaking RFC 7395's framing (not exactly one element,
// <open/> or <close/> in another namespace) gets a *stream.Error.
func Inbound(dst, msg []byte) ([]byte, error) {
	b := trimSpace(msg)
	if bytes.HasPrefix(b, []byte("<?")) {
		// An XML declaration may start the message (each is a document).
		kind, next, err := scanTag(b, 0)
		if err != nil || kind != tagPI {
			return dst, frameError("a WebSocket message must hold one complete XML element (RFC 7395 §3.3.3)")
		}
		b = trimSpace(b[next:])
	}
	if len(b) == 0 || b[0] != '<' {
		return dst, frameError("a WebSocket message must hold one complete XML element (RFC 7395 §3.3.3)")
	}
	if bytes.HasPrefix(b, []byte("<stream:stream")) {
		return dst, &stream.Error{Condition: stream.InvalidNamespace, Text: "over WebSocket, streams open with <open xmlns='" + NSFraming + "'/> (RFC 7395 §3.3.2)"}
	}
	n, err := scanElement(b)
	if err != nil || n != len(b) {
		return dst, frameError("a WebSocket message must hold exactly one complete XML element (RFC 7395 §3.3.3)")
	}
	_, end, _ := scanTag(b, 0)
	name, attrs, err := parseTag(b[:end])
	if err != nil {
		return dst, frameError("malformed start tag")
	}
	// The framing elements are known by namespace, whatever their prefix
	// (<fr:open xmlns:fr='urn:ietf:params:xml:ns:xmpp-framing'/>).
	local, nsAttr := name, "xmlns"
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		local, nsAttr = name[i+1:], "xmlns:"+string(name[:i])
	}
	switch string(local) {
	case "open", "close":
	default:
		return append(dst, b...), nil
	}
	if ns, _ := attrValue(attrs, nsAttr); string(ns) != NSFraming {
		return dst, &stream.Error{Condition: stream.InvalidNamespace, Text: "<" + string(name) + "/> must be in " + NSFraming}
	}
	if end < len(b) {
		// <open ...></open>: the stream header is attributes only (RFC
		// 7395 §3.3.1 gives <open/> the attributes of <stream:stream>),
		// so content would be dropped: refused instead.
		rest := b[end:]
		i := bytes.LastIndexByte(rest, '<') // the end tag: scanElement found one
		if len(trimSpace(rest[:i])) > 0 {
			return dst, &stream.Error{Condition: stream.BadFormat, Text: "<" + string(local) + "/> has no content (RFC 7395 §3.3.1)"}
		}
		et := rest[i:]
		if !bytes.HasPrefix(et, []byte("</")) || !bytes.HasPrefix(et[2:], name) || len(trimSpace(et[2+len(name):len(et)-1])) > 0 {
			return dst, frameError("the end tag does not match <" + string(name) + ">")
		}
	}
	if string(local) == "close" {
		return append(dst, stream.Close...), nil
	}
	dst = append(dst, "<stream:stream xmlns='"+stanza.NSClient+"' xmlns:stream='"+stream.NS+"'"...)
	for _, a := range attrs {
		switch string(a.name) {
		case "to", "from", "version", "xml:lang", "id":
			dst = append(dst, ' ')
			dst = append(dst, a.name...)
			dst = append(dst, '=', a.quote)
			dst = append(dst, a.value...)
			dst = append(dst, a.quote)
		}
	}
	return append(dst, '>'), nil
}

// outbound splits the byte stream the session writes into WebSocket
// messages: one per top-level element, the stream header as <open/>, the
// stream's end as <close/>. The session writes whole elements; a partial
// one waits in pending for the next write.
type outbound struct {
	pending []byte
	msg     []byte // the message being built, reused
}

// write adds b and calls send with each complete message (valid only during
// the call).
func (o *outbound) write(b []byte, send func(msg []byte) error) error {
	o.pending = append(o.pending, b...)
	i := 0
	defer func() {
		n := copy(o.pending, o.pending[i:])
		o.pending = o.pending[:n]
	}()
	for {
		for i < len(o.pending) && isSpace(o.pending[i]) {
			i++
		}
		if i == len(o.pending) {
			return nil
		}
		b := o.pending[i:]
		if b[0] != '<' {
			return errMarkup // the session writes no text between elements
		}
		kind, next, err := scanTag(b, 0)
		if errors.Is(err, errIncomplete) {
			return nil
		}
		if err != nil {
			return err
		}
		var msg []byte
		switch {
		case kind == tagPI:
			i += next
			continue
		case kind == tagStart && bytes.HasPrefix(b, []byte("<stream:stream")) && isSpaceOrEnd(b[len("<stream:stream")]):
			msg = o.open(b[:next])
		case kind == tagEnd && bytes.HasPrefix(b, []byte(stream.Close)):
			msg = append(o.msg[:0], "<close xmlns='"+NSFraming+"'/>"...)
			next = len(stream.Close)
		default:
			next, err = scanElement(b)
			if errors.Is(err, errIncomplete) {
				return nil
			}
			if err != nil {
				return err
			}
			msg = o.element(b[:next])
		}
		o.msg = msg
		i += next
		if err := send(msg); err != nil {
			return err
		}
	}
}

func isSpaceOrEnd(c byte) bool { return isSpace(c) || c == '>' }

// open translates our stream header into <open/> (RFC 7395 §3.4).
func (o *outbound) open(tag []byte) []byte {
	m := append(o.msg[:0], "<open xmlns='"+NSFraming+"'"...)
	_, attrs, err := parseTag(tag)
	if err == nil {
		for _, a := range attrs {
			if bytes.HasPrefix(a.name, []byte("xmlns")) {
				continue
			}
			m = append(m, ' ')
			m = append(m, a.name...)
			m = append(m, '=', a.quote)
			m = append(m, a.value...)
			m = append(m, a.quote)
		}
	}
	return append(m, "/>"...)
}

// element makes the namespaces a top-level element took from the stream
// header explicit: each message is a document of its own (RFC 7395 §3.3.3).
func (o *outbound) element(el []byte) []byte {
	_, end, _ := scanTag(el, 0)
	name, attrs, err := parseTag(el[:end])
	var decl string
	switch {
	case err != nil:
	case bytes.HasPrefix(name, []byte("stream:")):
		if _, ok := attrValue(attrs, "xmlns:stream"); !ok {
			decl = " xmlns:stream='" + stream.NS + "'"
		}
	case bytes.IndexByte(name, ':') < 0:
		if _, ok := attrValue(attrs, "xmlns"); !ok {
			decl = " xmlns='" + stanza.NSClient + "'"
		}
	}
	if decl == "" {
		return append(o.msg[:0], el...)
	}
	at := 1 + len(name)
	m := append(o.msg[:0], el[:at]...)
	m = append(m, decl...)
	return append(m, el[at:]...)
}
