package push

import (
	"encoding/base64"
	"strconv"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
	"mellium.im/xmpp/jid"
)

// Namespaces and form types.
const (
	NS                 = "urn:xmpp:push:0"                                   // XEP-0357, disco#info feature
	NSSummary          = "urn:xmpp:push:summary"                             // XEP-0357 §5 summary form type
	NSEncrypt          = "tigase:push:encrypt:0"                             // encrypted notifications
	NSEncryptAES128GCM = "tigase:push:encrypt:aes-128-gcm"                   // its one algorithm, a disco#info feature
	NSData             = stanza.NSData                                       // XEP-0004
	NSPubSub           = "http://jabber.org/protocol/pubsub"                 // XEP-0060
	FormPublishOptions = "http://jabber.org/protocol/pubsub#publish-options" // XEP-0060 §7.1.5
)

// Limits on what a client may register.
const (
	// MaxOptionsSize bounds the serialized publish-options form.
	MaxOptionsSize = 4096
	// MaxNodeSize bounds a node name (push tokens are a few hundred bytes).
	MaxNodeSize = 1024
	// DefaultEncryptMaxSize caps an encrypted payload unless the client
	// asks for less: APNs and FCM take 4096 bytes, Tigase's default.
	DefaultEncryptMaxSize = 3000
	// minEncryptMaxSize is the smallest max-size accepted.
	minEncryptMaxSize = 256
)

// enableRequest is a parsed <enable/> (XEP-0357 §5).
type enableRequest struct {
	jid     jid.JID
	node    string
	options []byte // serialized publish-options form, nil if none
	key     []byte // AES-128-GCM key, nil if none
	maxSize int    // for encrypted payloads
}

// parseEnable reads <enable xmlns='urn:xmpp:push:0' jid node> with its
// optional data form and <encrypt/> for user (a bare JID).
func parseEnable(el *xml.Element, user jid.JID) (enableRequest, *stanza.Error) {
	var r enableRequest
	j, err := appServerJID(el, user)
	if err != nil {
		return r, err
	}
	r.jid = j
	r.node = el.AttrValue("node")
	switch {
	case r.node == "":
		return r, stanza.NewError(stanza.BadRequest, "the 'node' attribute is required")
	case len(r.node) > MaxNodeSize:
		return r, stanza.NewError(stanza.NotAcceptable, "the node is too long")
	}
	forms := el.ChildrenNamed(NSData, "x")
	switch len(forms) {
	case 0:
	case 1:
		x := forms[0]
		if t := x.AttrValue("type"); t != "submit" {
			return r, stanza.NewError(stanza.BadRequest, "the publish-options form must be of type 'submit'")
		}
		if ft := formType(x); ft != "" && ft != FormPublishOptions {
			return r, stanza.NewError(stanza.BadRequest, "the form must be of type "+FormPublishOptions)
		}
		r.options = x.AppendXML(nil, "")
		if len(r.options) > MaxOptionsSize {
			return r, stanza.NewError(stanza.NotAcceptable, "the publish-options form is larger than "+strconv.Itoa(MaxOptionsSize)+" bytes")
		}
	default:
		return r, stanza.NewError(stanza.BadRequest, "at most one publish-options form")
	}
	encs := el.ChildrenNamed(NSEncrypt, "encrypt")
	switch len(encs) {
	case 0:
	case 1:
		e := encs[0]
		if alg := e.AttrValue("alg"); alg != "aes-128-gcm" {
			return r, &stanza.Error{Type: stanza.Modify, Condition: stanza.FeatureNotImplemented, Text: "unknown encryption algorithm; supported: aes-128-gcm"}
		}
		key, err := base64.StdEncoding.DecodeString(e.Text())
		if err != nil || len(key) != 16 {
			return r, stanza.NewError(stanza.BadRequest, "the encryption key must be 16 bytes in base64")
		}
		r.key = key
		r.maxSize = DefaultEncryptMaxSize
		if v, ok := e.LookupAttr("max-size"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < minEncryptMaxSize {
				return r, stanza.NewError(stanza.BadRequest, "max-size must be a number of bytes, at least "+strconv.Itoa(minEncryptMaxSize))
			}
			r.maxSize = min(n, DefaultEncryptMaxSize)
		}
	default:
		return r, stanza.NewError(stanza.BadRequest, "at most one <encrypt/>")
	}
	return r, nil
}

// parseDisable reads <disable xmlns='urn:xmpp:push:0' jid [node]/> (§6).
func parseDisable(el *xml.Element, user jid.JID) (jid.JID, string, *stanza.Error) {
	j, err := appServerJID(el, user)
	if err != nil {
		return j, "", err
	}
	node := el.AttrValue("node")
	if len(node) > MaxNodeSize {
		return j, "", stanza.NewError(stanza.NotAcceptable, "the node is too long")
	}
	return j, node, nil
}

// appServerJID reads the required 'jid' attribute: a valid JID that is not
// the user's own account.
func appServerJID(el *xml.Element, user jid.JID) (jid.JID, *stanza.Error) {
	v := el.AttrValue("jid")
	if v == "" {
		return jid.JID{}, stanza.NewError(stanza.BadRequest, "the 'jid' attribute is required")
	}
	j, err := jid.Parse(v)
	if err != nil {
		return jid.JID{}, &stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed, Text: "invalid app server JID"}
	}
	if j.Bare().Equal(user.Bare()) {
		return jid.JID{}, &stanza.Error{Type: stanza.Modify, Condition: stanza.NotAcceptable, Text: "the app server cannot be the account itself"}
	}
	return j, nil
}

// formType returns the value of a data form's FORM_TYPE field.
func formType(x *xml.Element) string {
	for _, f := range x.ChildrenNamed(NSData, "field") {
		if f.AttrValue("var") == "FORM_TYPE" {
			return f.ChildText(NSData, "value")
		}
	}
	return ""
}
