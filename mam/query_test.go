package mam_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/router"
	"dormouse.im/dormouse/stanza"
)

const aliceDesk = "alice@localhost/desk"

// conversation fills alice's archive with 15 messages, one second apart:
// bodies b1..b10 with bob (odd from alice to bob's phone, even from bob's
// phone, except b9 and b10 from bob's laptop) interleaved with c1..c5 with
// carol. It returns alice's archive.
func conversation(e *env) []mam.Message {
	e.t.Helper()
	e.online("bob@localhost/phone")
	e.online("bob@localhost/laptop")
	e.online("carol@localhost/x")
	e.online(aliceDesk)
	for i := 1; i <= 10; i++ {
		body := "b" + strconv.Itoa(i)
		switch {
		case i >= 9:
			e.chat("bob@localhost/laptop", "alice@localhost", body)
		case i%2 == 1:
			e.chat(aliceDesk, "bob@localhost/phone", body)
		default:
			e.chat("bob@localhost/phone", "alice@localhost", body)
		}
		if i%2 == 0 {
			e.chat("carol@localhost/x", "alice@localhost", "c"+strconv.Itoa(i/2))
		}
	}
	for _, tg := range e.targets {
		tg.Take()
	}
	msgs := e.archive("alice@localhost")
	if len(msgs) != 15 {
		e.t.Fatalf("alice's archive holds %d messages, want 15", len(msgs))
	}
	return msgs
}

func bodiesOf(msgs []mam.Message) []string {
	var out []string
	for _, m := range msgs {
		st, err := stanza.New(mustParseEl(m.Stanza))
		if err != nil {
			panic(err)
		}
		out = append(out, st.Body())
	}
	return out
}

func TestQueryPaging(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		all := conversation(e)
		allBodies := bodiesOf(all)

		t.Run("forward", func(t *testing.T) {
			var got []string
			after := ""
			for page := 0; ; page++ {
				set := "<max>4</max>"
				if after != "" {
					set += "<after>" + after + "</after>"
				}
				f := e.query(aliceDesk, "", rsm(set))
				if f.errCond != "" {
					t.Fatalf("page %d: error %s", page, f.errCond)
				}
				got = append(got, f.bodies()...)
				if len(f.results) > 0 && (f.first != f.results[0].id || f.last != f.results[len(f.results)-1].id) {
					t.Errorf("page %d: first/last %s/%s, results %v", page, f.first, f.last, f.resultOrder)
				}
				wantComplete := page == 3
				if f.complete != strconv.FormatBool(wantComplete) || f.stable != "true" {
					t.Errorf("page %d: complete=%q stable=%q", page, f.complete, f.stable)
				}
				if wantComplete || page > 5 {
					break
				}
				after = f.last
			}
			if !slices.Equal(got, allBodies) {
				t.Errorf("forward pages: %v\nwant %v", got, allBodies)
			}
		})

		t.Run("backward", func(t *testing.T) {
			var got []string
			before := ""
			for page := 0; ; page++ {
				f := e.query(aliceDesk, "", rsm("<max>4</max><before>"+before+"</before>"))
				if f.errCond != "" {
					t.Fatalf("page %d: error %s", page, f.errCond)
				}
				got = append(f.bodies(), got...)
				wantComplete := page == 3
				if f.complete != strconv.FormatBool(wantComplete) {
					t.Errorf("page %d: complete=%q", page, f.complete)
				}
				if wantComplete || page > 5 {
					break
				}
				before = f.first
			}
			if !slices.Equal(got, allBodies) {
				t.Errorf("backward pages: %v\nwant %v", got, allBodies)
			}
		})

		t.Run("last page", func(t *testing.T) {
			f := e.query(aliceDesk, "", rsm("<max>3</max><before/>"))
			if want := allBodies[12:]; !slices.Equal(f.bodies(), want) {
				t.Errorf("last page %v, want %v", f.bodies(), want)
			}
			if f.complete != "false" {
				t.Errorf("complete = %q", f.complete)
			}
		})

		t.Run("flip-page", func(t *testing.T) {
			plain := e.query(aliceDesk, "", rsm("<max>5</max><after>"+mam.FormatID(all[2].ID)+"</after>"))
			flipped := e.query(aliceDesk, "", rsm("<max>5</max><after>"+mam.FormatID(all[2].ID)+"</after>")+`<flip-page/>`)
			want := slices.Clone(plain.bodies())
			slices.Reverse(want)
			if !slices.Equal(flipped.bodies(), want) || len(want) != 5 {
				t.Errorf("flipped %v, want %v", flipped.bodies(), want)
			}
			if flipped.first != plain.first || flipped.last != plain.last || flipped.complete != plain.complete {
				t.Errorf("flipped fin %s/%s/%s, plain %s/%s/%s", flipped.first, flipped.last, flipped.complete, plain.first, plain.last, plain.complete)
			}
			back := e.query(aliceDesk, "", rsm("<max>5</max><before/>")+`<flip-page/>`)
			want = slices.Clone(allBodies[10:])
			slices.Reverse(want)
			if !slices.Equal(back.bodies(), want) {
				t.Errorf("flipped last page %v, want %v", back.bodies(), want)
			}
		})

		t.Run("default and clamped max", func(t *testing.T) {
			e2 := newEnv(t, backend, mam.Config{MaxPage: 6})
			conversation(e2)
			for _, set := range []string{"", rsm("<max>100</max>")} {
				f := e2.query(aliceDesk, "", set)
				if len(f.results) != 6 || f.complete != "false" {
					t.Errorf("%q: %d results, complete=%s; want 6, false", set, len(f.results), f.complete)
				}
			}
		})

		t.Run("whole archive in one page", func(t *testing.T) {
			f := e.query(aliceDesk, "", "")
			if !slices.Equal(f.bodies(), allBodies) || f.complete != "true" {
				t.Errorf("got %v complete=%s", f.bodies(), f.complete)
			}
			for i, r := range f.results {
				if r.queryID != "qid" || r.from != "alice@localhost" || r.to != aliceDesk {
					t.Errorf("result %d: queryid %q from %q to %q", i, r.queryID, r.from, r.to)
				}
				if r.id != mam.FormatID(all[i].ID) {
					t.Errorf("result %d: id %s, want %s", i, r.id, mam.FormatID(all[i].ID))
				}
				if want := mam.FormatStamp(all[i].Stamp); r.stamp != want {
					t.Errorf("result %d: stamp %s, want %s", i, r.stamp, want)
				}
				if got := r.msg.Name.Space; got != stanza.NSClient {
					t.Errorf("forwarded message in namespace %q", got)
				}
			}
			if f.count != "" {
				t.Errorf("count %q without Config.Count", f.count)
			}
		})

		t.Run("count", func(t *testing.T) {
			e2 := newEnv(t, backend, mam.Config{Count: true})
			conversation(e2)
			f := e2.query(aliceDesk, "", rsm("<max>4</max>"))
			if f.count != "15" || f.firstIndex != "0" {
				t.Errorf("count %q index %q, want 15 and 0", f.count, f.firstIndex)
			}
			f = e2.query(aliceDesk, "", rsm("<max>4</max><before/>"))
			if f.count != "15" || f.firstIndex != "11" {
				t.Errorf("last page: count %q index %q, want 15 and 11", f.count, f.firstIndex)
			}
			f = e2.query(aliceDesk, "", form("with", "carol@localhost")+rsm("<max>2</max><after>"+f.first+"</after>"))
			if f.count != "5" || f.firstIndex != "" {
				t.Errorf("with carol after: count %q index %q, want 5 and none", f.count, f.firstIndex)
			}
			// max=0 counts even without Config.Count.
			f = e.query(aliceDesk, "", form("with", "bob@localhost")+rsm("<max>0</max>"))
			if len(f.results) != 0 || f.count != "10" || f.complete != "false" || f.first != "" {
				t.Errorf("max=0: %d results count %q complete %q first %q", len(f.results), f.count, f.complete, f.first)
			}
		})
	})
}

func TestQueryFilters(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		all := conversation(e)
		allBodies := bodiesOf(all)
		id := func(i int) string { return mam.FormatID(all[i].ID) }
		stamp := func(i int) string { return mam.FormatStamp(all[i].Stamp) }
		pick := func(idx ...int) []string {
			var out []string
			for _, i := range idx {
				out = append(out, allBodies[i])
			}
			return out
		}
		// all: 0 b1, 1 b2, 2 c1, 3 b3, 4 b4, 5 c2, 6 b5, 7 b6, 8 c3,
		// 9 b7, 10 b8, 11 c4, 12 b9, 13 b10, 14 c5
		cases := []struct {
			name  string
			inner string
			want  []string
		}{
			{"with bare", form("with", "bob@localhost"), pick(0, 1, 3, 4, 6, 7, 9, 10, 12, 13)},
			{"with full", form("with", "bob@localhost/laptop"), pick(12, 13)},
			{"with full phone", form("with", "bob@localhost/phone"), pick(0, 1, 3, 4, 6, 7, 9, 10)},
			{"with unknown", form("with", "dave@localhost"), nil},
			{"start", form("start", stamp(11)), pick(11, 12, 13, 14)},
			{"end", form("end", stamp(2)), pick(0, 1, 2)},
			{"start and end", form("start", stamp(3), "end", stamp(5)), pick(3, 4, 5)},
			{"start with offset", form("start", all[11].Stamp.In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano)), pick(11, 12, 13, 14)},
			{"start after end", form("start", stamp(5), "end", stamp(3)), nil},
			{"with and start", form("with", "carol@localhost", "start", stamp(6)), pick(8, 11, 14)},
			{"after-id", form("after-id", id(11)), pick(12, 13, 14)},
			{"before-id", form("before-id", id(2)), pick(0, 1)},
			{"after-id and before-id", form("after-id", id(2), "before-id", id(6)), pick(3, 4, 5)},
			{"after-id with RSM after", form("after-id", id(2)) + rsm("<after>"+id(9)+"</after>"), pick(10, 11, 12, 13, 14)},
			{"before-id with RSM before", form("before-id", id(5)) + rsm("<before>"+id(3)+"</before>"), pick(0, 1, 2)},
			{"before-id with empty RSM before", form("before-id", id(3)) + rsm("<before/>"), pick(0, 1, 2)},
			{"ids", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='ids'><value>` + id(13) + `</value><value>` + id(1) + `</value></field></x>`, pick(1, 13)},
			{"ids and with", `<x xmlns='jabber:x:data' type='submit'><field var='ids'><value>` + id(2) + `</value><value>` + id(1) + `</value></field><field var='with'><value>carol@localhost</value></field></x>`, pick(2)},
			{"form without FORM_TYPE", `<x xmlns='jabber:x:data' type='submit'><field var='with'><value>carol@localhost</value></field></x>`, pick(2, 5, 8, 11, 14)},
			{"empty values", form("with", "", "start", ""), allBodies},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := e.query(aliceDesk, "", c.inner)
				if f.errCond != "" {
					t.Fatalf("error %s", f.errCond)
				}
				if !slices.Equal(f.bodies(), c.want) {
					t.Errorf("got %v, want %v", f.bodies(), c.want)
				}
				if f.complete != "true" {
					t.Errorf("complete = %q", f.complete)
				}
			})
		}
	})
}

func TestQueryErrors(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		all := conversation(e)
		bobsID := e.archive("bob@localhost")[0].ID
		// An id in bob's archive only: bob's messages with carol.
		e.chat("bob@localhost/phone", "carol@localhost", "private")
		bobOnly := e.archive("bob@localhost")
		onlyBob := mam.FormatID(bobOnly[len(bobOnly)-1].ID)
		_ = bobsID
		unknown := mam.FormatID(all[14].ID + 1)
		cases := []struct {
			name, attrs, inner, cond string
		}{
			{"RSM after unknown", "", rsm("<after>" + unknown + "</after>"), "item-not-found"},
			{"RSM before unknown", "", rsm("<before>" + unknown + "</before>"), "item-not-found"},
			{"RSM after in another archive", "", rsm("<after>" + onlyBob + "</after>"), "item-not-found"},
			{"RSM after garbage", "", rsm("<after>28482-98726-73623</after>"), "item-not-found"},
			{"RSM after empty", "", rsm("<after/>"), "bad-request"},
			{"RSM max negative", "", rsm("<max>-1</max>"), "bad-request"},
			{"RSM max not a number", "", rsm("<max>ten</max>"), "bad-request"},
			{"RSM index", "", rsm("<max>2</max><index>3</index>"), "feature-not-implemented"},
			{"after-id unknown", "", form("after-id", unknown), "item-not-found"},
			{"before-id unknown", "", form("before-id", unknown), "item-not-found"},
			{"after-id garbage", "", form("after-id", "nope"), "item-not-found"},
			{"ids unknown", "", form("ids", unknown), "item-not-found"},
			{"ids another archive", "", form("ids", onlyBob), "item-not-found"},
			{"start invalid", "", form("start", "yesterday"), "bad-request"},
			{"start without seconds", "", form("start", "2010-06-07T00:00Z"), "bad-request"},
			{"end date only", "", form("end", "2010-06-07"), "bad-request"},
			{"with invalid", "", form("with", "@@@"), "bad-request"},
			{"with two values", "", `<x xmlns='jabber:x:data' type='submit'><field var='with'><value>a@b</value><value>c@d</value></field></x>`, "bad-request"},
			{"field twice", "", `<x xmlns='jabber:x:data' type='submit'><field var='with'><value>a@b</value></field><field var='with'><value>a@b</value></field></x>`, "bad-request"},
			{"field without var", "", `<x xmlns='jabber:x:data' type='submit'><field><value>a@b</value></field></x>`, "bad-request"},
			{"wrong FORM_TYPE", "", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>`, "bad-request"},
			{"form type form", "", `<x xmlns='jabber:x:data' type='form'/>`, "bad-request"},
			{"two forms", "", form() + form(), "bad-request"},
			{"unknown field", "", form("include-groupchat", "true"), "feature-not-implemented"},
			{"fulltext unsupported", "", form("{urn:xmpp:fulltext:0}fulltext", "hello"), "feature-not-implemented"},
			{"another user's archive", "to='bob@localhost'", "", "forbidden"},
			{"another user's archive metadata", "to='bob@localhost'", "", "forbidden"},
			{"unknown user's archive", "to='nobody@localhost'", "", "service-unavailable"},
		}
		if e.store.SupportsFullText() {
			cases = slices.DeleteFunc(cases, func(c struct{ name, attrs, inner, cond string }) bool {
				return c.name == "fulltext unsupported"
			})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := e.query(aliceDesk, c.attrs, c.inner)
				if f.errCond != c.cond {
					t.Errorf("error %q, want %q", f.errCond, c.cond)
				}
				if len(f.results) != 0 {
					t.Errorf("%d results sent with an error", len(f.results))
				}
			})
		}
	})
}

func TestQueryOwnArchiveAddressed(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	conversation(e)
	for _, to := range []string{"", "to='alice@localhost'", "to='ALICE@localhost'"} {
		f := e.query(aliceDesk, to, "")
		if f.errCond != "" || len(f.results) != 15 {
			t.Errorf("%s: error %q, %d results", to, f.errCond, len(f.results))
		}
	}
	// The server's archive does not exist.
	f := e.query(aliceDesk, "to='localhost'", "")
	if f.errCond != "service-unavailable" {
		t.Errorf("query to the server: error %q", f.errCond)
	}
}

func TestEmptyArchive(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{Count: true})
		for _, inner := range []string{"", rsm("<max>10</max><before/>"), rsm("<max>10</max>") + "<flip-page/>"} {
			f := e.query(aliceDesk, "", inner)
			if f.errCond != "" || len(f.results) != 0 || f.complete != "true" || f.first != "" || f.last != "" || f.count != "0" || !f.hasSet {
				t.Errorf("%q: %+v", inner, f)
			}
		}
		got := e.iq(aliceDesk, `<iq type='get' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
		if len(got) != 1 || got[0].Type != stanza.TypeResult {
			t.Fatalf("metadata: %v", got)
		}
		md := got[0].El.Child(mam.NS, "metadata")
		if md == nil || len(md.Elements()) != 0 {
			t.Errorf("metadata of an empty archive: %s", got[0])
		}
	})
}

func TestMetadata(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, mam.Config{})
		all := conversation(e)
		got := e.iq(aliceDesk, `<iq type='get' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
		if len(got) != 1 || got[0].Type != stanza.TypeResult {
			t.Fatalf("metadata: %v", got)
		}
		md := got[0].El.Child(mam.NS, "metadata")
		start, end := md.Child(mam.NS, "start"), md.Child(mam.NS, "end")
		if start == nil || end == nil {
			t.Fatalf("metadata %s", got[0])
		}
		first, last := all[0], all[len(all)-1]
		if start.AttrValue("id") != mam.FormatID(first.ID) || start.AttrValue("timestamp") != mam.FormatStamp(first.Stamp) ||
			end.AttrValue("id") != mam.FormatID(last.ID) || end.AttrValue("timestamp") != mam.FormatStamp(last.Stamp) {
			t.Errorf("metadata %s; want %s %s, %s %s", got[0], mam.FormatID(first.ID), mam.FormatStamp(first.Stamp), mam.FormatID(last.ID), mam.FormatStamp(last.Stamp))
		}
		got = e.iq(aliceDesk, `<iq type='get' id='m' to='bob@localhost'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
		if len(got) != 1 || got[0].Type != stanza.TypeError || stanza.ParseError(got[0].El).Condition != stanza.Forbidden {
			t.Errorf("another user's metadata: %v", got)
		}
		got = e.iq(aliceDesk, `<iq type='set' id='m'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
		if len(got) != 1 || got[0].Type != stanza.TypeError {
			t.Errorf("metadata set: %v", got)
		}
	})
}

func TestForm(t *testing.T) {
	for _, fulltext := range []bool{false, true} {
		t.Run(fmt.Sprint("fulltext=", fulltext), func(t *testing.T) {
			store, mem := newStore(t, memBackend)
			mem.FullText = fulltext
			e := newEnvStore(t, memBackend, store, mem, mam.Config{})
			got := e.iq(aliceDesk, `<iq type='get' id='f'><query xmlns='urn:xmpp:mam:2'/></iq>`)
			if len(got) != 1 || got[0].Type != stanza.TypeResult {
				t.Fatalf("form: %v", got)
			}
			x := got[0].El.Child(mam.NS, "query").Child(stanza.NSData, "x")
			if x.AttrValue("type") != "form" {
				t.Errorf("form type %q", x.AttrValue("type"))
			}
			fields := map[string]string{}
			for _, f := range x.ChildrenNamed(stanza.NSData, "field") {
				fields[f.AttrValue("var")] = f.AttrValue("type")
				if f.Child(stanza.NSData, "required") != nil {
					t.Errorf("field %s is required (XEP-0313 §4.1: must not be)", f.AttrValue("var"))
				}
			}
			want := map[string]string{"FORM_TYPE": "hidden", "with": "jid-single", "start": "text-single", "end": "text-single",
				"before-id": "text-single", "after-id": "text-single", "ids": "list-multi"}
			if fulltext {
				want[mam.FulltextField] = "text-single"
			}
			if fmt.Sprint(fields) != fmt.Sprint(want) {
				t.Errorf("fields %v, want %v", fields, want)
			}
			ft := slices.Contains(e.mux.Features(router.ToAccount), mam.NSFulltext)
			if ft != fulltext {
				t.Errorf("fulltext feature advertised: %v", ft)
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	for _, to := range []router.Addressee{router.ToAccount, router.ToServer} {
		f := e.mux.Features(to)
		for _, want := range []string{mam.NS, mam.NSExtended, mam.NSSID} {
			if !slices.Contains(f, want) {
				t.Errorf("addressee %d: feature %s missing from %v", to, want, f)
			}
		}
	}
}

func TestFullText(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		store, mem := newStore(t, backend)
		if mem != nil {
			mem.FullText = true
		}
		if !store.SupportsFullText() {
			t.Skip("no full-text search")
		}
		e := newEnvStore(t, backend, store, mem, mam.Config{})
		e.online("bob@localhost/phone")
		for _, b := range []string{"the quick brown fox", "Quick thinking", "slow brown dog", "brown quick"} {
			e.chat(aliceDesk, "bob@localhost", b)
		}
		e.send(aliceDesk, `<message type='chat' to='bob@localhost'><body>quick fallback</body><encrypted xmlns='urn:xmpp:omemo:2'/></message>`)
		for _, c := range []struct {
			text string
			want []string
		}{
			{"quick", []string{"the quick brown fox", "Quick thinking", "brown quick"}},
			{"brown quick", []string{"the quick brown fox", "brown quick"}},
			{"cat", nil},
			{"", []string{"the quick brown fox", "Quick thinking", "slow brown dog", "brown quick", "quick fallback"}},
		} {
			f := e.query(aliceDesk, "", form(mam.FulltextField, c.text))
			if f.errCond != "" || !slices.Equal(f.bodies(), c.want) {
				t.Errorf("fulltext %q: %v (error %q), want %v", c.text, f.bodies(), f.errCond, c.want)
			}
		}
	})
}

func TestResultsToAFullQueue(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	conversation(e)
	tg := e.online(aliceDesk)
	tg.Limit(3)
	e.send(aliceDesk, `<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'/></iq>`)
	// Three results went out; the fourth was refused, which ended the
	// query, and its answer (resource-constraint) was refused too.
	if got := tg.Take(); len(got) != 3 {
		t.Errorf("a resource taking 3 stanzas got %v", got)
	}
}
