package auth_test

import (
	"context"
	"strings"
	"testing"

	"dormouse.im/dormouse/auth"
)

func TestSCRAMClientFirstMalformed(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret", "other", "secret")
	tests := []struct {
		name string
		msg  string
		cond string // "" if a challenge is expected
	}{
		{name: "valid", msg: "n,,n=alice,r=abc"},
		{name: "valid y flag", msg: "y,,n=alice,r=abc"},
		{name: "valid with authzid", msg: "n,a=alice@example.org,n=alice,r=abc"},
		{name: "authzid with unknown escape", msg: "n,a=alice=40example.org,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "valid extension ignored", msg: "n,,n=alice,r=abc,x=1,Q=a=b"},
		{name: "unknown user still gets a challenge", msg: "n,,n=nobody,r=abc"},
		{name: "GS2 flag only", msg: "n", cond: auth.ConditionMalformedRequest},
		{name: "GS2 header without second comma", msg: "n,", cond: auth.ConditionMalformedRequest},
		{name: "unknown GS2 flag", msg: "x,,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "GS2 non-standard flag", msg: "F,n,,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "channel binding required", msg: "p=tls-exporter,,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "p without binding name", msg: "p,,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "empty authzid", msg: "n,a=,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "not an authzid", msg: "n,b=x,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "bad escape in authzid", msg: "n,a=al=2cice,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "other account as authzid", msg: "n,a=other@example.org,n=alice,r=abc", cond: auth.ConditionInvalidAuthzid},
		{name: "invalid JID as authzid", msg: "n,a=@example.org,n=alice,r=abc", cond: auth.ConditionInvalidAuthzid},
		{name: "authzid for unpreparable user", msg: "n,a=alice@example.org,n=al:ice,r=abc", cond: auth.ConditionInvalidAuthzid},
		{name: "mandatory extension", msg: "n,,m=ext,n=alice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "empty username", msg: "n,,n=,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username bad escape", msg: "n,,n=al=2Gice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username lower-case escape", msg: "n,,n=al=2cice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username truncated escape", msg: "n,,n=alice=2,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username lone equals", msg: "n,,n=alice=,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username invalid UTF-8", msg: "n,,n=al\xffice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "username NUL", msg: "n,,n=al\x00ice,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "no username", msg: "n,,r=abc", cond: auth.ConditionMalformedRequest},
		{name: "attributes swapped", msg: "n,,r=abc,n=alice", cond: auth.ConditionMalformedRequest},
		{name: "no nonce", msg: "n,,n=alice", cond: auth.ConditionMalformedRequest},
		{name: "empty nonce", msg: "n,,n=alice,r=", cond: auth.ConditionMalformedRequest},
		{name: "nonce with space", msg: "n,,n=alice,r=a c", cond: auth.ConditionMalformedRequest},
		{name: "nonce with DEL", msg: "n,,n=alice,r=a\x7f", cond: auth.ConditionMalformedRequest},
		{name: "nonce with non-ASCII", msg: "n,,n=alice,r=aé", cond: auth.ConditionMalformedRequest},
		{name: "trailing comma", msg: "n,,n=alice,r=abc,", cond: auth.ConditionMalformedRequest},
		{name: "m extension after nonce", msg: "n,,n=alice,r=abc,m=x", cond: auth.ConditionMalformedRequest},
		{name: "repeated nonce", msg: "n,,n=alice,r=abc,r=def", cond: auth.ConditionMalformedRequest},
		{name: "extension without value", msg: "n,,n=alice,r=abc,x=", cond: auth.ConditionMalformedRequest},
		{name: "extension without equals", msg: "n,,n=alice,r=abc,x", cond: auth.ConditionMalformedRequest},
		{name: "extension with digit name", msg: "n,,n=alice,r=abc,1=x", cond: auth.ConditionMalformedRequest},
		{name: "extension with NUL", msg: "n,,n=alice,r=abc,x=\x00", cond: auth.ConditionMalformedRequest},
		{name: "too large", msg: "n,,n=alice,r=" + strings.Repeat("a", auth.MaxMessageSize), cond: auth.ConditionMalformedRequest},
	}
	for _, tc := range tests {
		for _, mech := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA1} {
			t.Run(tc.name+"/"+string(mech), func(t *testing.T) {
				ch, done, err := newServer(t, mech, u).Step(context.Background(), []byte(tc.msg))
				if got := condition(t, err); got != tc.cond {
					t.Fatalf("Step(%q): err %v, want condition %q", tc.msg, err, tc.cond)
				}
				if done {
					t.Fatal("done after client-first-message")
				}
				if tc.cond == "" {
					parseServerFirst(t, ch)
				}
			})
		}
	}
}

func TestSCRAMClientFinalMalformed(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	const gs2 = "n,,"
	biws := b64([]byte(gs2))
	type parts struct{ nonce, proof string }
	tests := []struct {
		name string
		msg  func(p parts) string
		cond string
	}{
		{name: "right proof", msg: func(p parts) string { return "c=" + biws + ",r=" + p.nonce + ",p=" + p.proof }},
		{name: "wrong proof", cond: auth.ConditionNotAuthorized, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p=" + b64(make([]byte, 32))
		}},
		{name: "no proof", cond: auth.ConditionMalformedRequest, msg: func(p parts) string { return "c=" + biws + ",r=" + p.nonce }},
		{name: "empty", cond: auth.ConditionMalformedRequest, msg: func(p parts) string { return "" }},
		{name: "proof not last", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",p=" + p.proof + ",r=" + p.nonce
		}},
		{name: "swapped", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "r=" + p.nonce + ",c=" + biws + ",p=" + p.proof
		}},
		{name: "wrong nonce", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + "x,p=" + p.proof
		}},
		{name: "client nonce only", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=abc,p=" + p.proof
		}},
		{name: "channel binding of other header", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + b64([]byte("y,,")) + ",r=" + p.nonce + ",p=" + p.proof
		}},
		{name: "channel binding with data", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + b64([]byte("n,,data")) + ",r=" + p.nonce + ",p=" + p.proof
		}},
		{name: "channel binding not base64", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=biws!,r=" + p.nonce + ",p=" + p.proof
		}},
		{name: "channel binding unpadded", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=bixx=,r=" + p.nonce + ",p=" + p.proof
		}},
		{name: "channel binding with newline", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=bi\nws,r=" + p.nonce + ",p=" + p.proof
		}},
		{name: "proof not base64", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p=!!!!"
		}},
		{name: "proof with newline", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p=" + p.proof[:4] + "\n" + p.proof[4:]
		}},
		{name: "proof with non-zero padding bits", cond: auth.ConditionIncorrectEncoding, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p=" + p.proof[:len(p.proof)-2] + "B="
		}},
		{name: "proof too short", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p=AAAA"
		}},
		{name: "empty proof", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",p="
		}},
		{name: "m extension", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",m=x,p=" + p.proof
		}},
		{name: "bad extension", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",,p=" + p.proof
		}},
		{name: "extension changes the AuthMessage", cond: auth.ConditionNotAuthorized, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",x=1,p=" + p.proof
		}},
		{name: "too large", cond: auth.ConditionMalformedRequest, msg: func(p parts) string {
			return "c=" + biws + ",r=" + p.nonce + ",x=" + strings.Repeat("a", auth.MaxMessageSize) + ",p=" + p.proof
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := newServer(t, auth.ScramSHA256, u)
			bare := "n=alice,r=abc"
			ch, _, err := srv.Step(ctx, []byte(gs2+bare))
			if err != nil {
				t.Fatal(err)
			}
			sf := parseServerFirst(t, ch)
			without := "c=" + biws + ",r=" + sf.nonce
			proof, _ := clientProof(hashOf(auth.ScramSHA256), "secret", sf.salt, sf.iter, bare+","+sf.raw+","+without)
			msg := tc.msg(parts{nonce: sf.nonce, proof: b64(proof)})
			_, done, err := srv.Step(ctx, []byte(msg))
			if got := condition(t, err); got != tc.cond {
				t.Fatalf("Step(%q): err %v, want condition %q", msg, err, tc.cond)
			}
			if done != (tc.cond == "") {
				t.Fatalf("done = %v", done)
			}
		})
	}
}

func TestPLAINMalformed(t *testing.T) {
	u := newUsers(t, 4096, "alice", "secret")
	tests := []struct {
		name     string
		msg      string
		cond     string
		username string
	}{
		{name: "valid", msg: "\x00alice\x00secret", username: "alice"},
		{name: "valid with authzid", msg: "alice@example.org\x00alice\x00secret", username: "alice"},
		{name: "case-folded", msg: "ALICE@EXAMPLE.ORG\x00Alice\x00secret", username: "alice"},
		{name: "wrong password", msg: "\x00alice\x00Secret", cond: auth.ConditionNotAuthorized},
		{name: "unknown user", msg: "\x00nobody\x00secret", cond: auth.ConditionNotAuthorized},
		{name: "JID as authcid", msg: "\x00alice@example.org\x00secret", cond: auth.ConditionNotAuthorized},
		{name: "other authzid", msg: "bob@example.org\x00alice\x00secret", cond: auth.ConditionInvalidAuthzid},
		{name: "authzid with resource", msg: "alice@example.org/r\x00alice\x00secret", cond: auth.ConditionInvalidAuthzid},
		{name: "authzid invalid UTF-8", msg: "\xff\x00alice\x00secret", cond: auth.ConditionMalformedRequest},
		{name: "one separator", msg: "alice\x00secret", cond: auth.ConditionMalformedRequest},
		{name: "three separators", msg: "\x00alice\x00secret\x00", cond: auth.ConditionMalformedRequest},
		{name: "no separator", msg: "alice", cond: auth.ConditionMalformedRequest},
		{name: "empty authcid", msg: "\x00\x00secret", cond: auth.ConditionMalformedRequest},
		{name: "empty password", msg: "\x00alice\x00", cond: auth.ConditionMalformedRequest},
		{name: "password invalid UTF-8", msg: "\x00alice\x00\xffsecret", cond: auth.ConditionMalformedRequest},
		{name: "password with control character", msg: "\x00alice\x00sec\x01ret", cond: auth.ConditionNotAuthorized},
		{name: "too large", msg: "\x00alice\x00" + strings.Repeat("s", auth.MaxMessageSize), cond: auth.ConditionMalformedRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, auth.Plain, u)
			data, done, err := srv.Step(context.Background(), []byte(tc.msg))
			if got := condition(t, err); got != tc.cond {
				t.Fatalf("Step(%q): err %v, want condition %q", tc.msg, err, tc.cond)
			}
			if done != (tc.cond == "") || data != nil {
				t.Fatalf("done = %v, data = %q", done, data)
			}
			if srv.Username() != tc.username {
				t.Errorf("Username() = %q, want %q", srv.Username(), tc.username)
			}
		})
	}
}
