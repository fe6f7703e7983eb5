package xmpptest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"dormouse.im/dormouse/xml"
	"mellium.im/sasl"
)

// Namespaces of XEP-0388, XEP-0386 and XEP-0484.
const (
	NSSASL2 = "urn:xmpp:sasl:2"
	NSBind2 = "urn:xmpp:bind:0"
	NSFAST  = "urn:xmpp:fast:0"
)

// SASL2Options make Dial log in with XEP-0388 instead of RFC 6120 SASL
// (no stream restart), with the inline requests set here.
type SASL2Options struct {
	UserAgentID string // <user-agent id/>; "" sends none
	Software    string
	Device      string

	// Bind asks for Bind 2 (XEP-0386) with Tag; Options.SM enables
	// XEP-0198 inline, Carbons XEP-0280, Inactive starts with CSI
	// inactive. Options.Resume resumes inline (XEP-0198 in SASL2): if
	// that fails and Bind is set, the server binds in the same round
	// trip and Client.ResumeFailure says why.
	Bind     bool
	Tag      string
	Carbons  bool
	Inactive bool

	// RequestToken asks for a FAST token (XEP-0484) of this mechanism
	// ("HT-SHA-256-NONE"); Client.Token holds it after success.
	RequestToken string
	// Token, if set, logs in with it (HT-SHA-256-NONE) instead of the
	// password, with <fast count='Count'/>; Invalidate asks the server to
	// forget it.
	Token      string
	Count      uint32
	NoCount    bool // send <fast/> without a count
	Invalidate bool
	// TokenMech is the HT mechanism of the login with Token (default
	// HT-SHA-256-NONE; -EXPR and -ENDP bind to the TLS channel).
	TokenMech string

	// Extra is raw XML added inside <authenticate/>.
	Extra string
}

// FastToken is a token the server issued.
type FastToken struct {
	Token  string
	Expiry time.Time
}

// AuthFailure is a SASL2 <failure/>: its condition and text.
type AuthFailure struct {
	Condition string
	Text      string
}

func (e *AuthFailure) Error() string {
	return "xmpptest: sasl2 failure: " + e.Condition + " " + e.Text
}

// AuthSASL2 logs in with XEP-0388 (Dial calls it when Options.SASL2 is
// set). It fills c.Success, c.JID, c.Token, c.SM and c.ResumeFailure from
// <success/>, and c.Features from the features that follow it.
func (c *Client) AuthSASL2(o Options) error {
	s := o.SASL2
	if c.Features.Child(NSSASL2, "authentication") == nil {
		return errors.New("xmpptest: no SASL2 offered")
	}
	mech := o.Mechanism
	var (
		initial []byte
		neg     *sasl.Negotiator
		sc      *scramClient
		htToken string
	)
	var htCB []byte
	if s.Token != "" {
		mech = s.TokenMech
		if mech == "" {
			mech = "HT-SHA-256-NONE"
		}
		if cbt := map[string]string{"HT-SHA-256-EXPR": "tls-exporter", "HT-SHA-256-ENDP": "tls-server-end-point"}[mech]; cbt != "" {
			tc, ok := c.Conn.(*tls.Conn)
			if !ok {
				return errors.New("xmpptest: HT channel binding needs TLS")
			}
			var err error
			if htCB, err = channelBinding(tc.ConnectionState(), cbt); err != nil {
				return err
			}
		}
		htToken = s.Token
		initial = append([]byte(o.User+"\x00"), htHash(s.Token, "Initiator", htCB)...)
	} else if o.SCRAM != nil {
		var err error
		if sc, err = newSCRAM(mech, o.User, o.Password, c.Conn, c.Features, true, o.SCRAM); err != nil {
			return err
		}
		initial = sc.initial()
	} else {
		var err error
		if neg, initial, err = newNegotiator(mech, o.User, o.Password); err != nil {
			return err
		}
	}
	var b strings.Builder
	b.WriteString("<authenticate xmlns='" + NSSASL2 + "' mechanism='" + mech + "'><initial-response>")
	b.WriteString(base64.StdEncoding.EncodeToString(initial))
	b.WriteString("</initial-response>")
	if s.UserAgentID != "" {
		b.WriteString("<user-agent id='" + s.UserAgentID + "'>")
		if s.Software != "" {
			b.WriteString("<software>" + s.Software + "</software>")
		}
		if s.Device != "" {
			b.WriteString("<device>" + s.Device + "</device>")
		}
		b.WriteString("</user-agent>")
	}
	if o.Resume != nil {
		fmt.Fprintf(&b, "<resume xmlns='%s' previd='%s' h='%d'/>", NSSM, o.Resume.ID, o.Resume.Received())
	}
	if s.Bind {
		b.WriteString("<bind xmlns='" + NSBind2 + "'>")
		if s.Tag != "" {
			b.WriteString("<tag>" + s.Tag + "</tag>")
		}
		if o.SM {
			b.WriteString("<enable xmlns='" + NSSM + "' resume='true'")
			if o.SMMax > 0 {
				b.WriteString(" max='" + strconv.Itoa(o.SMMax) + "'")
			}
			b.WriteString("/>")
		}
		if s.Carbons {
			b.WriteString("<enable xmlns='urn:xmpp:carbons:2'/>")
		}
		if s.Inactive {
			b.WriteString("<inactive xmlns='urn:xmpp:csi:0'/>")
		}
		b.WriteString("</bind>")
	}
	if s.RequestToken != "" {
		b.WriteString("<request-token xmlns='" + NSFAST + "' mechanism='" + s.RequestToken + "'/>")
	}
	if htToken != "" {
		b.WriteString("<fast xmlns='" + NSFAST + "'")
		if !s.NoCount {
			fmt.Fprintf(&b, " count='%d'", s.Count)
		}
		if s.Invalidate {
			b.WriteString(" invalidate='true'")
		}
		b.WriteString("/>")
	}
	b.WriteString(s.Extra)
	b.WriteString("</authenticate>")
	if err := c.SendRaw(b.String()); err != nil {
		return err
	}
	for {
		c.deadline()
		el, err := c.Dec.Next()
		if err != nil {
			return err
		}
		if el.Name.Space != NSSASL2 {
			if StreamErrorCondition(el) != "" {
				return fmt.Errorf("%w: %s", ErrStreamError, el)
			}
			return fmt.Errorf("xmpptest: unexpected %s", el)
		}
		switch el.Name.Local {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return err
			}
			var resp []byte
			switch {
			case sc != nil:
				resp, err = sc.final(ch)
			case neg != nil:
				_, resp, err = neg.Step(ch)
			default:
				return fmt.Errorf("xmpptest: unexpected challenge to HT: %s", el)
			}
			if err != nil {
				return err
			}
			if err := c.SendRaw("<response xmlns='" + NSSASL2 + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"); err != nil {
				return err
			}
		case "success":
			if sc != nil {
				add, err := base64.StdEncoding.DecodeString(el.ChildText(NSSASL2, "additional-data"))
				if err != nil {
					return err
				}
				if err := sc.verify(add); err != nil {
					return err
				}
				neg = nil
			}
			return c.sasl2Success(el, o, neg, htToken, htCB)
		case "failure":
			return &AuthFailure{Condition: failureCondition(el), Text: el.ChildText(NSSASL2, "text")}
		default:
			return fmt.Errorf("xmpptest: unexpected %s", el)
		}
	}
}

// sasl2Success checks the server's additional data (SCRAM signature or HT
// responder hash) and takes the inline results.
func (c *Client) sasl2Success(el *xml.Element, o Options, neg *sasl.Negotiator, htToken string, htCB []byte) error {
	c.Success = el
	add, err := base64.StdEncoding.DecodeString(el.ChildText(NSSASL2, "additional-data"))
	if err != nil {
		return err
	}
	switch {
	case htToken != "":
		if !hmac.Equal(add, htHash(htToken, "Responder", htCB)) {
			return errors.New("xmpptest: wrong HT responder hash")
		}
	case neg != nil && neg.State()&sasl.StepMask != sasl.ValidServerResponse && len(add) > 0:
		if _, _, err := neg.Step(add); err != nil {
			return fmt.Errorf("xmpptest: server signature: %w", err)
		}
	}
	c.JID = el.ChildText(NSSASL2, "authorization-identifier")
	if t := el.Child(NSFAST, "token"); t != nil {
		exp, _ := time.Parse(time.RFC3339, t.AttrValue("expiry"))
		c.Token = &FastToken{Token: t.AttrValue("token"), Expiry: exp}
	}
	if r := el.Child(NSSM, "resumed"); r != nil && o.Resume != nil {
		h, err := strconv.ParseUint(r.AttrValue("h"), 10, 32)
		if err != nil {
			return fmt.Errorf("xmpptest: bad <resumed/>: %s", r)
		}
		if err := o.Resume.acked(uint32(h)); err != nil {
			return err
		}
		c.SM = o.Resume
		for _, s := range o.Resume.Unacked() {
			if err := c.SendRaw(s); err != nil {
				return err
			}
		}
	}
	if f := el.Child(NSSM, "failed"); f != nil {
		rf := &ResumeFailed{El: f}
		if v := f.AttrValue("h"); v != "" {
			if h, err := strconv.ParseUint(v, 10, 32); err == nil {
				rf.H, rf.HasH = uint32(h), true
			}
		}
		if x := f.FirstChild(); x != nil {
			rf.Condition = x.Name.Local
		}
		c.ResumeFailure = rf
	}
	if bd := el.Child(NSBind2, "bound"); bd != nil {
		if e := bd.Child(NSSM, "enabled"); e != nil {
			st := &SMState{ID: e.AttrValue("id")}
			st.Max, _ = strconv.Atoi(e.AttrValue("max"))
			c.SM = st
		}
	}
	// XEP-0388: <success/> is immediately followed by the features of the
	// authenticated stream (no restart).
	c.deadline()
	f, err := c.Dec.Next()
	if err != nil {
		return fmt.Errorf("xmpptest: features after SASL2 success: %w", err)
	}
	if f.Name.Local != "features" {
		return fmt.Errorf("xmpptest: %s after SASL2 success, want the stream features", f)
	}
	c.Features = f
	return nil
}

// htHash is HMAC-SHA-256(token, label || cb).
func htHash(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}
