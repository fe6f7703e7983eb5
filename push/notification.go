package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// DefaultBody is the last-message-body of a notification for a message
// when the body itself may not be published (Config.IncludeBody false): a
// fixed text, so that app servers can tell a notification the user should
// see (alert) from a background wake-up, as Prosody and ejabberd do.
const DefaultBody = "New message"

// Texts of encrypted payloads.
const (
	encryptedBody    = "You have received an encrypted message"
	maxEncryptedBody = 255 // bytes of a body in an encrypted payload
)

// latest is what a notification says about the stanza that triggered it.
type latest struct {
	kind      Kind
	sender    jid.JID // the stanza's sender
	groupchat bool
	body      string // "" for encrypted messages and subscription requests
	encrypted bool   // an end-to-end encrypted message
	sid       string // call
	media     []string
}

// newLatest reads the parts of m (the stanza, or a carbon's inner
// message) that a notification may show.
func newLatest(k Kind, st *stanza.Stanza, m *xml.Element) latest {
	l := latest{kind: k, sender: st.From}
	if m != st.El {
		if f, err := jid.Parse(m.AttrValue("from")); err == nil {
			l.sender = f
		}
	}
	if k == Subscribe {
		return l
	}
	l.groupchat = m.AttrValue("type") == stanza.TypeGroupchat
	l.encrypted = encrypted(m)
	if !l.encrypted {
		l.body = m.ChildText(stanza.NSClient, "body")
	}
	if k == Call {
		l.sid, l.media = callInfo(m)
	}
	return l
}

// summary is the content of one notification.
type summary struct {
	messages      int // messages since the device was last online
	subscriptions int // subscription requests since then
	last          latest
}

// policy is what the server's configuration lets a plain notification
// show.
type policy struct {
	includeSender, includeBody bool
}

// publishIQ builds the XEP-0357 §5 publish for reg, from the account's
// bare JID: the summary form (or its encrypted form, if the device asked
// for it), then the stored publish-options form.
func publishIQ(from jid.JID, to jid.JID, reg *device, s summary, p policy) (*stanza.Stanza, error) {
	iq := stanza.Build(stanza.KindIQ, stanza.TypeSet, "", from, to)
	ps := add(iq.El, xml.NewElement(NSPubSub, "pubsub"))
	n := add(add(add(ps, xml.NewElement(NSPubSub, "publish", "node", reg.reg.Node)),
		xml.NewElement(NSPubSub, "item")),
		xml.NewElement(NS, "notification"))
	if reg.reg.EncryptKey != nil {
		enc, err := encryptedElement(reg.reg.EncryptKey, reg.reg.EncryptMaxSize, s)
		if err != nil {
			return nil, err
		}
		n.AddChild(enc)
	} else {
		n.AddChild(summaryForm(s, p))
	}
	if reg.options != nil {
		add(ps, xml.NewElement(NSPubSub, "publish-options")).AddChild(reg.options)
	}
	return iq, nil
}

// summaryForm is the urn:xmpp:push:summary form (XEP-0357 §5).
func summaryForm(s summary, p policy) *xml.Element {
	x := xml.NewElement(NSData, "x", "type", "form")
	field := func(v, val string) {
		f := add(x, xml.NewElement(NSData, "field", "var", v))
		if v == "FORM_TYPE" {
			f.SetAttr("type", "hidden")
		}
		add(f, xml.NewElement(NSData, "value")).AddText(val)
	}
	field("FORM_TYPE", NSSummary)
	field("message-count", strconv.Itoa(s.messages))
	if s.subscriptions > 0 {
		field("pending-subscription-count", strconv.Itoa(s.subscriptions))
	}
	l := s.last
	if p.includeSender && l.sender.Domainpart() != "" {
		sender := l.sender.Bare()
		if l.groupchat {
			sender = l.sender // the room occupant
		}
		field("last-message-sender", sender.String())
	}
	switch {
	case l.kind == Subscribe:
	case p.includeBody && l.body != "":
		field("last-message-body", l.body)
	default:
		// Every wake-worthy message is "important": a fixed text tells
		// the app server to show an alert without revealing anything.
		field("last-message-body", DefaultBody)
	}
	return x
}

// encryptedPayload is the JSON inside an encrypted notification (the
// format of Tigase and Prosody's mod_cloud_notify_encrypted that Siskin
// and Monal decrypt).
type encryptedPayload struct {
	Unread   int      `json:"unread"`
	Sender   string   `json:"sender,omitempty"`
	Type     string   `json:"type"`
	Message  string   `json:"message,omitempty"`
	Nickname string   `json:"nickname,omitempty"`
	SID      string   `json:"sid,omitempty"`
	Media    []string `json:"media,omitempty"`
}

// payload returns the JSON payload for s. Only the device can read it, so
// it carries the sender and the text (at most maxEncryptedBody bytes; a
// fixed text for end-to-end encrypted messages).
func payload(s summary) encryptedPayload {
	l := s.last
	p := encryptedPayload{Unread: s.messages}
	if l.sender.Domainpart() != "" {
		p.Sender = l.sender.Bare().String()
	}
	switch {
	case l.kind == Subscribe:
		p.Type = "subscribe"
	case l.kind == Call:
		p.Type, p.SID, p.Media = "call", l.sid, l.media
		p.Sender = l.sender.String()
	case l.groupchat:
		p.Type, p.Nickname = "groupchat", l.sender.Resourcepart()
	default:
		p.Type = "chat"
	}
	if l.kind == Message {
		p.Message = truncate(l.body, maxEncryptedBody)
		if l.encrypted {
			p.Message = encryptedBody
		}
	}
	return p
}

// encryptedElement is <encrypted xmlns='tigase:push:encrypt:0' iv [type]>
// with the AES-128-GCM sealed JSON payload (ciphertext and tag, base64),
// shortened to fit maxSize bytes of base64.
func encryptedElement(key []byte, maxSize int, s summary) (*xml.Element, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("push: encryption key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("push: encryption: %w", err)
	}
	if maxSize <= 0 {
		maxSize = DefaultEncryptMaxSize
	}
	p := payload(s)
	var plain []byte
	for {
		plain, err = json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("push: payload: %w", err)
		}
		if base64.StdEncoding.EncodedLen(len(plain)+gcm.Overhead()) <= maxSize || p.Message == "" {
			break
		}
		p.Message = truncate(p.Message, len(p.Message)/2)
	}
	iv := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("push: iv: %w", err)
	}
	sealed := gcm.Seal(nil, iv, plain, nil)
	e := xml.NewElement(NSEncrypt, "encrypted", "iv", base64.StdEncoding.EncodeToString(iv))
	if p.Type == "call" {
		e.SetAttr("type", "voip")
	}
	e.AddText(base64.StdEncoding.EncodeToString(sealed))
	return e, nil
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// add appends child to parent and returns child.
func add(parent, child *xml.Element) *xml.Element {
	parent.AddChild(child)
	return child
}
