package s2s

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces of dialback (XEP-0220) and of its stream feature.
const (
	NSDialback        = "jabber:server:dialback"
	NSDialbackFeature = "urn:xmpp:features:dialback"
)

// dialbackKey returns the dialback key of XEP-0185 §2:
// HMAC-SHA256(SHA256(secret), receiving + " " + originating + " " + id) in
// lowercase hex, the HMAC key being the hex form of SHA256(secret) (as in
// the example of XEP-0185 §3).
func dialbackKey(secret []byte, receiving, originating, streamID string) string {
	k := sha256.Sum256(secret)
	m := hmac.New(sha256.New, []byte(hex.EncodeToString(k[:])))
	m.Write([]byte(receiving))
	m.Write([]byte{' '})
	m.Write([]byte(originating))
	m.Write([]byte{' '})
	m.Write([]byte(streamID))
	return hex.EncodeToString(m.Sum(nil))
}

// checkKey reports whether key is the one dialbackKey gives, in constant
// time.
func checkKey(secret []byte, receiving, originating, streamID, key string) bool {
	want := dialbackKey(secret, receiving, originating, streamID)
	return hmac.Equal([]byte(want), []byte(key))
}

// dbElement is a parsed <db:result/> or <db:verify/> (XEP-0220 §2).
type dbElement struct {
	Verify bool   // db:verify, else db:result
	From   string // canonical domain
	To     string // canonical domain
	ID     string // db:verify: the stream ID the key was issued for
	Type   string // "" for a request; valid, invalid or error in answers
	Key    string // the key, in requests
}

var errBadDialback = errors.New("s2s: malformed dialback element")

// parseDialback parses a dialback element. Both addresses must be domains;
// a db:verify must have an id; a request (no type) must carry a key.
func parseDialback(el *xml.Element) (dbElement, error) {
	var d dbElement
	if el.Name.Space != NSDialback {
		return d, errBadDialback
	}
	switch el.Name.Local {
	case "result":
	case "verify":
		d.Verify = true
	default:
		return d, errBadDialback
	}
	var ok bool
	if d.From, ok = canonicalDomain(el.AttrValue("from")); !ok {
		return d, errBadDialback
	}
	if d.To, ok = canonicalDomain(el.AttrValue("to")); !ok {
		return d, errBadDialback
	}
	d.ID = el.AttrValue("id")
	d.Type = el.AttrValue("type")
	switch d.Type {
	case "", "valid", "invalid", "error":
	default:
		return d, errBadDialback
	}
	if d.Verify && d.ID == "" {
		return d, errBadDialback
	}
	if d.Type == "" {
		d.Key = strings.TrimSpace(el.Text())
		if d.Key == "" || len(d.Key) > 1024 {
			return d, errBadDialback
		}
	}
	return d, nil
}

// appendDialback appends d as XML (the db prefix is declared on every
// stream header this package writes).
func appendDialback(b []byte, d dbElement) []byte {
	name := "db:result"
	if d.Verify {
		name = "db:verify"
	}
	b = append(b, '<')
	b = append(b, name...)
	b = appendAttr(b, "from", d.From)
	b = appendAttr(b, "to", d.To)
	if d.ID != "" {
		b = appendAttr(b, "id", d.ID)
	}
	if d.Type != "" {
		b = appendAttr(b, "type", d.Type)
	}
	if d.Key == "" {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = xml.AppendEscapedText(b, d.Key)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "='"...)
	b = xml.AppendEscapedAttr(b, value)
	return append(b, '\'')
}

// canonicalDomain returns the canonical form of a domain (a JID with only
// a domainpart).
func canonicalDomain(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	j, err := jid.Parse(s)
	if err != nil || j.Localpart() != "" || j.Resourcepart() != "" {
		return "", false
	}
	// RFC 7622 §3.2 strips one final dot; a domain with an empty label
	// ("a..", "a..b", ".a") is not a domain name (and "a.." would become
	// "a." here and "a" when parsed again).
	d := j.Domainpart()
	if strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return "", false
	}
	return d, true
}
