package xmpptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"

	"dormouse.im/dormouse/auth"
	"dormouse.im/dormouse/stream"
	"dormouse.im/dormouse/xml"
)

// SCRAMOptions drive the test client's own SCRAM implementation (instead
// of mellium.im/sasl), which can bind to the TLS channel with either type
// and misbehave on purpose.
type SCRAMOptions struct {
	// CBType is the channel-binding type of a -PLUS mechanism:
	// "tls-exporter" or "tls-server-end-point".
	CBType string
	// TamperCB flips a bit of the channel-binding data (a man in the
	// middle terminating TLS would have other data).
	TamperCB bool
	// GS2Flag overrides the GS2 flag of a mechanism without channel
	// binding: 'y' says the client could bind but thinks the server
	// cannot (RFC 5802 §6).
	GS2Flag byte
	// CheckSSDP verifies the XEP-0474 hash in the server-first-message
	// against the features the client saw; SSDPSeen reports it was there.
	CheckSSDP bool
	SSDPSeen  bool
}

// scramClient is one SCRAM exchange, client side (RFC 5802 §3).
type scramClient struct {
	h          func() hash.Hash
	user, pass string
	gs2        string
	cb         []byte
	nonce      string
	first      string // client-first-message-bare
	serverSig  []byte
	ssdp       []byte // expected XEP-0474 string; nil: not checked
	opts       *SCRAMOptions
}

// newSCRAM prepares an exchange of mech on conn; features are the stream
// features (for XEP-0474), sasl2 says which mechanism list counts.
func newSCRAM(mech, user, pass string, conn any, features *xml.Element, sasl2 bool, o *SCRAMOptions) (*scramClient, error) {
	s := &scramClient{user: user, pass: pass, opts: o}
	base, plus := strings.CutSuffix(mech, "-PLUS")
	switch base {
	case "SCRAM-SHA-256":
		s.h = sha256.New
	case "SCRAM-SHA-1":
		s.h = sha1.New
	default:
		return nil, fmt.Errorf("xmpptest: SCRAM client: unknown mechanism %s", mech)
	}
	switch {
	case plus:
		tc, ok := conn.(*tls.Conn)
		if !ok {
			return nil, errors.New("xmpptest: channel binding needs TLS")
		}
		cb, err := channelBinding(tc.ConnectionState(), o.CBType)
		if err != nil {
			return nil, err
		}
		if o.TamperCB {
			cb[0] ^= 1
		}
		s.gs2, s.cb = "p="+o.CBType+",,", cb
	case o.GS2Flag != 0:
		s.gs2 = string(o.GS2Flag) + ",,"
	default:
		s.gs2 = "n,,"
	}
	if o.CheckSSDP {
		s.ssdp = ssdpString(features, sasl2)
	}
	n := make([]byte, 18)
	_, _ = rand.Read(n)
	s.nonce = base64.RawStdEncoding.EncodeToString(n)
	s.first = "n=" + user + ",r=" + s.nonce
	return s, nil
}

// channelBinding computes the client's channel-binding data.
func channelBinding(cs tls.ConnectionState, typ string) ([]byte, error) {
	switch typ {
	case "tls-exporter":
		return cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	case "tls-server-end-point":
		if len(cs.PeerCertificates) == 0 {
			return nil, errors.New("xmpptest: no server certificate")
		}
		return auth.ServerEndPoint(cs.PeerCertificates[0]), nil
	}
	return nil, fmt.Errorf("xmpptest: unknown channel-binding type %q", typ)
}

// ssdpString is XEP-0474's string S from the features the client saw.
func ssdpString(f *xml.Element, sasl2 bool) []byte {
	var mechs []string
	var list *xml.Element
	if sasl2 {
		list = f.Child(NSSASL2, "authentication")
	} else {
		list = f.Child(stream.NSSASL, "mechanisms")
	}
	if list != nil {
		for _, m := range list.Elements() {
			if m.Name.Local == "mechanism" {
				mechs = append(mechs, m.Text())
			}
		}
	}
	slices.Sort(mechs)
	s := []byte(strings.Join(mechs, "\x1e"))
	if cb := f.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding"); cb != nil {
		var types []string
		for _, t := range cb.Elements() {
			types = append(types, t.AttrValue("type"))
		}
		slices.Sort(types)
		s = append(s, 0x1f)
		s = append(s, strings.Join(types, "\x1e")...)
	}
	return s
}

// initial returns the client-first-message.
func (s *scramClient) initial() []byte { return []byte(s.gs2 + s.first) }

// final answers the server-first-message.
func (s *scramClient) final(serverFirst []byte) ([]byte, error) {
	attrs := map[string]string{}
	for _, a := range strings.Split(string(serverFirst), ",") {
		if k, v, ok := strings.Cut(a, "="); ok {
			attrs[k] = v
		}
	}
	if !strings.HasPrefix(attrs["r"], s.nonce) {
		return nil, errors.New("xmpptest: SCRAM: server nonce does not extend ours")
	}
	if s.ssdp != nil {
		h, ok := attrs["h"]
		if !ok {
			return nil, errors.New("xmpptest: SCRAM: no XEP-0474 hash")
		}
		want := s.h()
		want.Write(s.ssdp)
		if h != base64.StdEncoding.EncodeToString(want.Sum(nil)) {
			return nil, errors.New("xmpptest: SCRAM: XEP-0474 hash mismatch: downgrade")
		}
		s.opts.SSDPSeen = true
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil {
		return nil, err
	}
	salted, err := pbkdf2.Key(s.h, s.pass, salt, iter, s.h().Size())
	if err != nil {
		return nil, err
	}
	cbind := base64.StdEncoding.EncodeToString(append([]byte(s.gs2), s.cb...))
	withoutProof := "c=" + cbind + ",r=" + attrs["r"]
	authMsg := s.first + "," + string(serverFirst) + "," + withoutProof
	clientKey := mac(s.h, salted, "Client Key")
	stored := s.h()
	stored.Write(clientKey)
	sig := mac(s.h, stored.Sum(nil), authMsg)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, sig)
	s.serverSig = mac(s.h, mac(s.h, salted, "Server Key"), authMsg)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message.
func (s *scramClient) verify(serverFinal []byte) error {
	v, ok := bytes.CutPrefix(serverFinal, []byte("v="))
	if !ok || string(v) != base64.StdEncoding.EncodeToString(s.serverSig) {
		return fmt.Errorf("xmpptest: SCRAM: bad server signature %q", serverFinal)
	}
	return nil
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
