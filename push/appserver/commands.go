package appserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"dormouse.im/dormouse/stanza"
	"dormouse.im/dormouse/xml"
)

// Ad-hoc command nodes (XEP-0050) of the registration dialects.
const (
	CmdRegisterFCM    = "register-push-fcm"    // Conversations / p2
	CmdRegisterAPNs   = "register-push-apns"   // p2, Openfire pushserver
	CmdUnregisterFCM  = "unregister-push-fcm"  // p2
	CmdUnregisterAPNs = "unregister-push-apns" // p2
	CmdV1Register     = "v1-register-push"     // mod_push_appserver (Monal, yaxim)
	CmdV1Unregister   = "v1-unregister-push"
)

// FormV1 is the FORM_TYPE of the v1-*-push command forms.
const FormV1 = "https://github.com/tmolitor-stud-tu/mod_push_appserver/#v1-register-push"

// commandList is what disco#items lists, in order.
var commandList = []struct{ node, name string }{
	{CmdRegisterFCM, "Register an Android device (FCM)"},
	{CmdRegisterAPNs, "Register an iOS device (APNs)"},
	{CmdUnregisterFCM, "Unregister an Android device (FCM)"},
	{CmdUnregisterAPNs, "Unregister an iOS device (APNs)"},
	{CmdV1Register, "Register a device (v1)"},
	{CmdV1Unregister, "Unregister a device (v1)"},
}

func commandName(node string) (string, bool) {
	for _, c := range commandList {
		if c.node == node {
			return c.name, true
		}
	}
	return "", false
}

// command is a parsed ad-hoc command request.
type command struct {
	node      string
	action    string // execute (default), cancel, complete, next
	sessionID string
	form      form
	hasForm   bool
}

// parseCommand reads a <command/> element.
func parseCommand(c *xml.Element) (cmd command, err *stanza.Error) {
	cmd.node = c.AttrValue("node")
	if _, ok := commandName(cmd.node); !ok {
		return cmd, stanza.NewError(stanza.ItemNotFound, "no such command")
	}
	cmd.action = c.AttrValue("action")
	switch cmd.action {
	case "":
		cmd.action = "execute"
	case "execute", "complete", "cancel":
	default:
		return cmd, badAction()
	}
	cmd.sessionID = c.AttrValue("sessionid")
	if len(cmd.sessionID) > 128 {
		return cmd, stanza.NewError(stanza.BadRequest, "session id too long")
	}
	if x := c.Child(NSData, "x"); x != nil {
		f, ok := parseForm(x)
		if !ok {
			return cmd, badPayload("form too large")
		}
		cmd.form, cmd.hasForm = f, true
	}
	return cmd, nil
}

// badAction and badPayload are the XEP-0050 §4.6 errors.
func badAction() *stanza.Error {
	e := stanza.NewError(stanza.BadRequest, "unknown action")
	e.App = xml.NewElement(NSCommands, "bad-action")
	return e
}

func badPayload(text string) *stanza.Error {
	e := stanza.NewError(stanza.BadRequest, text)
	e.App = xml.NewElement(NSCommands, "bad-payload")
	return e
}

// registration is what a register command asks for.
type registration struct {
	platform   Platform
	token      string
	device     string // client's device id
	muc        string
	app        string // optional app name
	unregister bool
}

// registrationRequest reads the submitted form of a (un)register command.
func registrationRequest(cmd command) (r registration, err *stanza.Error) {
	f := cmd.form
	r.app = f.get("app")
	switch cmd.node {
	case CmdRegisterFCM, CmdUnregisterFCM, CmdRegisterAPNs, CmdUnregisterAPNs:
		r.platform = FCM
		if strings.HasSuffix(cmd.node, "-apns") {
			r.platform = APNs
		}
		r.unregister = strings.HasPrefix(cmd.node, "unregister-")
		r.device = f.get("android-id")
		if r.device == "" {
			r.device = f.get("device-id")
		}
		r.muc = f.get("muc")
		if r.muc == "" {
			r.muc = f.get("channel")
		}
		r.token = f.get("token")
		if r.device == "" {
			return r, badPayload("missing field android-id or device-id")
		}
	case CmdV1Register, CmdV1Unregister:
		p, perr := ParsePlatform(f.get("type"))
		if perr != nil && cmd.node == CmdV1Register {
			return r, badPayload("field type must be fcm or apns")
		}
		r.platform = p
		r.unregister = cmd.node == CmdV1Unregister
		r.device = f.get("node")
		r.token = f.get("token")
		if r.device == "" {
			return r, badPayload("missing field node")
		}
	}
	if !r.unregister && r.token == "" {
		return r, badPayload("missing field token")
	}
	if len(r.token) > 4096 || len(r.device) > 1024 || len(r.muc) > 3071 {
		return r, badPayload("field too long")
	}
	return r, nil
}

// commandForm is the form a client gets when it executes a command
// without one.
func commandForm(node string) *xml.Element {
	switch node {
	case CmdRegisterFCM, CmdRegisterAPNs:
		return buildForm("form", "", formField{"text-single", "token", "Push token", ""},
			formField{"text-single", "device-id", "Device id", ""}, formField{"jid-single", "muc", "Group chat (optional)", ""},
			formField{"text-single", "app", "App (optional)", ""})
	case CmdUnregisterFCM, CmdUnregisterAPNs:
		return buildForm("form", "", formField{"text-single", "device-id", "Device id", ""},
			formField{"jid-single", "muc", "Group chat (optional)", ""})
	case CmdV1Register:
		return buildForm("form", FormV1, formField{"list-single", "type", "Platform (fcm or apns)", ""},
			formField{"text-single", "node", "Device id", ""}, formField{"text-single", "token", "Push token", ""},
			formField{"text-single", "app", "App (optional)", ""})
	default:
		return buildForm("form", FormV1, formField{"text-single", "node", "Device id", ""})
	}
}

// deviceKey derives a device's stable identity from the account and the
// client's device id (and the MUC, for p2's per-room registrations): a
// re-registration of the same device finds its node again.
func deviceKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
