package appserver

import (
	"strings"

	"dormouse.im/dormouse/push/appserver/provider"
	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// publish is a parsed XEP-0357 notification publish (§5 of the XEP: the
// user's server publishes to the node the app server issued).
type publish struct {
	node       string
	secret     string // publish-options secret
	pushModule string // publish-options pushModule (fpush-style: names the app)
	notif      provider.Notification
}

// parsePublish reads a pubsub element with one publish.
func parsePublish(ps *xml.Element) (p publish, err *stanza.Error) {
	pub := ps.Child(NSPubSub, "publish")
	if pub == nil {
		return p, stanza.NewError(stanza.BadRequest, "no publish element")
	}
	p.node = pub.AttrValue("node")
	if p.node == "" || len(p.node) > 1024 {
		return p, stanza.NewError(stanza.BadRequest, "publish without a valid node")
	}
	if po := ps.Child(NSPubSub, "publish-options"); po != nil {
		if x := po.Child(NSData, "x"); x != nil {
			f, ok := parseForm(x)
			if !ok {
				return p, stanza.NewError(stanza.BadRequest, "publish-options form too large")
			}
			if ft := f.get("FORM_TYPE"); ft != "" && ft != FormPublishOpts {
				return p, stanza.NewError(stanza.BadRequest, "publish-options form of an unknown FORM_TYPE")
			}
			p.secret = f.fields["secret"]
			p.pushModule = f.get("pushModule")
		}
	}
	var n *xml.Element
	if item := pub.Child(NSPubSub, "item"); item != nil {
		n = item.Child(NSPush, "notification")
	}
	if n == nil {
		return p, nil // an empty notification still wakes the device
	}
	if x := n.Child(NSData, "x"); x != nil {
		f, ok := parseForm(x)
		if !ok {
			return p, stanza.NewError(stanza.BadRequest, "notification form too large")
		}
		if len(f.order) > 0 {
			p.notif.Data = make(map[string]string, len(f.order))
			for _, k := range f.order {
				p.notif.Data[k] = f.fields[k]
			}
		}
		if strings.TrimSpace(f.fields["last-message-body"]) != "" {
			p.notif.Important = true
		}
	}
	if e := n.Child(NSEncrypt, "encrypted"); e != nil {
		payload := strings.TrimSpace(e.Text())
		if len(payload) > maxFieldValueLen {
			return p, stanza.NewError(stanza.BadRequest, "encrypted payload too large")
		}
		p.notif.Encrypted = &provider.Encrypted{Payload: payload, IV: e.AttrValue("iv"), Type: e.AttrValue("type")}
		p.notif.Important = true
		p.notif.Call = e.AttrValue("type") == "voip"
	}
	return p, nil
}
