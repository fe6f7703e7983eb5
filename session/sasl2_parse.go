package session

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/xml"
)

// Namespaces of the SASL2 family.
const (
	NSSASL2   = "urn:xmpp:sasl:2" // XEP-0388 Extensible SASL Profile
	NSBind2   = "urn:xmpp:bind:0" // XEP-0386 Bind 2
	NSFAST    = "urn:xmpp:fast:0" // XEP-0484 Fast Authentication Streamlining Tokens
	nsCSI     = NSCSI
	nsCarbons = "urn:xmpp:carbons:2" // XEP-0280, enabled inline by Bind 2
)

// Bounds on what a client may put in <authenticate/>.
const (
	maxUserAgentText = 256 // <software/>, <device/>
	maxTag           = 64  // Bind 2 <tag/>
)

// authRequest is a parsed XEP-0388 <authenticate/> with the inline
// requests this server understands.
type authRequest struct {
	mech auth.Mechanism
	// initial is the decoded <initial-response/>; nil if absent or empty
	// (RFC 6120 §6.4.2 semantics: the server then sends an empty
	// challenge).
	initial []byte

	uaID     string // <user-agent id/>: a UUID (canonical lower case); "" without one
	software string
	device   string

	bind   *bindRequest   // XEP-0386 <bind/>
	resume *resumeRequest // XEP-0198 <resume/> inline

	// XEP-0484.
	requestToken auth.Mechanism // <request-token mechanism/>
	fast         bool           // <fast/> present: this is a FAST login
	fastCount    uint32         // its count, if hasCount
	hasCount     bool
	invalidate   bool // <fast invalidate='true'/>
}

// bindRequest is a XEP-0386 <bind/> request.
type bindRequest struct {
	tag      string
	sm       bool // <enable xmlns='urn:xmpp:sm:3'/>
	smResume bool
	smMax    time.Duration
	carbons  bool // <enable xmlns='urn:xmpp:carbons:2'/>
	inactive bool // <inactive xmlns='urn:xmpp:csi:0'/>
}

// resumeRequest is an inline XEP-0198 <resume/>.
type resumeRequest struct {
	previd string
	h      uint32
}

// parseError is a SASL failure condition for a malformed <authenticate/>.
type parseError struct{ cond, text string }

// parseAuthenticate parses <authenticate xmlns='urn:xmpp:sasl:2'/>. It
// never panics on any input: it is fuzzed (FuzzParseAuthenticate).
func parseAuthenticate(el *xml.Element) (*authRequest, *parseError) {
	r := &authRequest{mech: auth.Mechanism(el.AttrValue("mechanism"))}
	if r.mech == "" {
		return nil, &parseError{auth.ConditionInvalidMechanism, "the mechanism attribute is required"}
	}
	seen := map[string]bool{}
	for _, ch := range el.Elements() {
		key := ch.Name.Space + " " + ch.Name.Local
		if seen[key] {
			return nil, &parseError{auth.ConditionMalformedRequest, "duplicate <" + ch.Name.Local + "/>"}
		}
		seen[key] = true
		switch {
		case ch.Name.Space == NSSASL2 && ch.Name.Local == "initial-response":
			msg, ok := decodeSASL(ch.Text())
			if !ok {
				return nil, &parseError{auth.ConditionIncorrectEncoding, "initial-response is not base64"}
			}
			r.initial = msg
		case ch.Name.Space == NSSASL2 && ch.Name.Local == "user-agent":
			// The id is optional (XEP-0388); one that is there must
			// be a UUID.
			if v := ch.AttrValue("id"); v != "" {
				id, ok := canonicalUUID(v)
				if !ok {
					return nil, &parseError{auth.ConditionMalformedRequest, "the user-agent id must be a UUID"}
				}
				r.uaID = id
			}
			r.software = boundedText(ch.ChildText(NSSASL2, "software"), maxUserAgentText)
			r.device = boundedText(ch.ChildText(NSSASL2, "device"), maxUserAgentText)
		case ch.Name.Space == NSBind2 && ch.Name.Local == "bind":
			b, perr := parseBind(ch)
			if perr != nil {
				return nil, perr
			}
			r.bind = b
		case ch.Name.Space == NSSM && ch.Name.Local == "resume":
			h, err := parseH(ch.AttrValue("h"))
			previd := ch.AttrValue("previd")
			if err != nil || previd == "" {
				return nil, &parseError{auth.ConditionMalformedRequest, "<resume/> needs previd and an unsigned 32-bit h"}
			}
			r.resume = &resumeRequest{previd: previd, h: h}
		case ch.Name.Space == NSFAST && ch.Name.Local == "request-token":
			m := auth.Mechanism(ch.AttrValue("mechanism"))
			if m == "" {
				return nil, &parseError{auth.ConditionMalformedRequest, "<request-token/> needs a mechanism"}
			}
			r.requestToken = m
		case ch.Name.Space == NSFAST && ch.Name.Local == "fast":
			r.fast = true
			if v := ch.AttrValue("count"); v != "" {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return nil, &parseError{auth.ConditionMalformedRequest, "<fast/> count must be an unsigned 32-bit integer"}
				}
				r.fastCount, r.hasCount = uint32(n), true
			}
			switch ch.AttrValue("invalidate") {
			case "true", "1":
				r.invalidate = true
			}
		}
		// Other children (extensions this server does not know) are
		// ignored, as XEP-0388 §2.3 lets servers do with unknown inline
		// requests.
	}
	return r, nil
}

// parseBind parses a XEP-0386 <bind/> request.
func parseBind(el *xml.Element) (*bindRequest, *parseError) {
	b := &bindRequest{}
	for _, ch := range el.Elements() {
		switch {
		case ch.Name.Space == NSBind2 && ch.Name.Local == "tag":
			t := strings.TrimSpace(ch.Text())
			if t == "" || len(t) > maxTag || !utf8.ValidString(t) {
				return nil, &parseError{auth.ConditionMalformedRequest, "<tag/> must be 1 to 64 bytes of text"}
			}
			b.tag = t
		case ch.Name.Space == NSSM && ch.Name.Local == "enable":
			b.sm = true
			switch ch.AttrValue("resume") {
			case "true", "1":
				b.smResume = true
			}
			if v := ch.AttrValue("max"); v != "" {
				if n, err := strconv.ParseUint(v, 10, 32); err == nil {
					b.smMax = time.Duration(n) * time.Second
				}
			}
		case ch.Name.Space == nsCarbons && ch.Name.Local == "enable":
			b.carbons = true
		case ch.Name.Space == nsCSI && ch.Name.Local == "inactive":
			b.inactive = true
		case ch.Name.Space == nsCSI && ch.Name.Local == "active":
			b.inactive = false
		}
	}
	return b, nil
}

// canonicalUUID checks the textual form of a UUID (RFC 9562 §4: 8-4-4-4-12
// hexadecimal digits) and returns it in lower case.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// boundedText trims s and cuts it to at most n bytes on a rune boundary.
func boundedText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
