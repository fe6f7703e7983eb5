#!/usr/bin/python3
"""Message Archive Management (XEP-0313) with RSM paging (XEP-0059) and
stanza ids (XEP-0359).

- alice sends bob N chat messages (each with an <origin-id/>) while bob is
  online; every live copy carries <stanza-id by='bob@localhost'/>
  (XEP-0313 §3.5, XEP-0359 §4) and keeps the origin-id; bob also sends
  himself a note in the middle of them;
- a second resource of bob pages through his archive with slixmpp's
  xep_0313 plugin, 5 per page, forward with <after/> and backward from
  the last page (empty <before/>, XEP-0059 §2.5): every page has at most 5
  results, RSM <first/>/<last/> match them, 'complete' is set on the last
  page only (XEP-0313 §4.3), both directions give the same sequence, the N
  messages come back in order exactly once with the live stanza-ids as
  result ids, a XEP-0203 <delay/> in each <forwarded/> and the origin-id;
- the 'with' filter (XEP-0313 §4.1.1) returns alice's messages and not the
  note, and with bob's own JID the note and not alice's messages;
- alice's archive holds her N outgoing messages;
- bob may not query alice's archive: <forbidden/> (XEP-0313 §4.1.2, only
  the owner);
- disco#info on bob's bare JID lists urn:xmpp:mam:2 (XEP-0313 §6).

slixmpp's own RSM iterator turns an error answer into the end of the
iteration, and its stop test (first index + page size == count) would end
a backward walk after one page, so the test drives the plugin's query one
page at a time (mam_page) and also cross-checks with the plugin's
iterate().
"""

import os
import time
from datetime import datetime, timedelta, timezone

from slixmpp import JID
from slixmpp.plugins import xep_0082
from slixmpp.xmlstream import ET

from common import (NS_DELAY, TIMEOUT, Client, TestFailure, alice, bob, check,
                    check_eq, error_condition, run_test)

NS_MAM = 'urn:xmpp:mam:2'
NS_SID = 'urn:xmpp:sid:0'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_RSM = 'http://jabber.org/protocol/rsm'

N = 12       # messages alice sends
PAGE = 5     # RSM page size
NOTE_AFTER = 6  # bob's note to himself comes after this many of alice's messages
PLUGINS = ('xep_0030', 'xep_0059', 'xep_0297', 'xep_0313', 'xep_0359')

# Unique per run, so that messages left in the archives by other tests (or
# an earlier run on the same database) cannot be mistaken for these.
TAG = f'mam{os.getpid()}x{int(time.time())}'


def msg_id(i):
    return f'{TAG}-{i}'


def origin_id(i):
    return f'{TAG}-origin-{i}'


def body(i):
    return f'MAM message {i} of {N} ({TAG}) ünïcödé'


NOTE_ID = f'{TAG}-note'
NOTE_BODY = f'note to self ({TAG})'


def stanza_ids(xml):
    """The (by, id) pairs of the <stanza-id/> children of a message element."""
    return [(s.get('by'), s.get('id')) for s in xml.findall('{%s}stanza-id' % NS_SID)]


def origin_ids(xml):
    return [o.get('id') for o in xml.findall('{%s}origin-id' % NS_SID)]


class Page:
    """One page of MAM results: the result messages and the <fin/>."""

    def __init__(self, iq, results):
        self.iq = iq
        self.results = results
        self.fin = iq.xml.find('{%s}fin' % NS_MAM)
        if self.fin is None:
            raise TestFailure(f'MAM query result without <fin xmlns="{NS_MAM}"/>: {iq}')
        rsm = self.fin.find('{%s}set' % NS_RSM)
        if rsm is None:
            raise TestFailure(f'<fin/> without an RSM <set xmlns="{NS_RSM}"/> (XEP-0313 §4.3): {iq}')
        self.first = rsm.findtext('{%s}first' % NS_RSM)
        self.last = rsm.findtext('{%s}last' % NS_RSM)
        self.complete = self.fin.get('complete') in ('true', '1')
        self.ids = [r['mam_result']['id'] for r in results]

    def __repr__(self):
        return f'<page {self.ids} complete={self.complete} first={self.first} last={self.last}>'


async def mam_page(c, owner=None, with_jid=None, after=None, before=None, max_=PAGE):
    """Run one page of a MAM query with slixmpp's xep_0313 plugin.

    owner: the archive's JID ('to' of the query; None for no 'to').
    after: RSM <after/> (forward). before: RSM <before/>; True for an
    empty <before/> (the last page). Errors raise IqError."""
    reverse = before is not None
    it = c['xep_0313'].retrieve(jid=JID(owner) if owner else None, with_jid=with_jid,
                                iterator=True, reverse=reverse, rsm={'max': max_})
    # The plugin's ResultIterator.next(), minus its swallowing of errors.
    q = it.query
    q['id'] = q.stream.new_id()
    q['mam']['rsm']['max'] = str(max_)
    if after is not None:
        q['mam']['rsm']['after'] = after
    if before is not None:
        q['mam']['rsm']['before'] = before
    it.pre_cb(q)
    r = await q.send(timeout=TIMEOUT)
    it.post_cb(r)
    page = Page(r, list(r['mam']['results']))
    what = f'MAM page (after={after!r}, before={before!r}, with={with_jid}, to={owner})'
    check(len(page.results) <= max_, f'{what}: {len(page.results)} results, more than max {max_}: {page}')
    for m in page.results:
        src = str(m['from'])
        check(src in ('', c.boundjid.bare) if owner is None else src == str(owner),
              f"{what}: result message from {src!r}, want the archive's JID "
              f"{owner or c.boundjid.bare} (XEP-0313 §4.2): {m}")
        check_eq(str(m['to']), str(c.boundjid), f"{what}: 'to' of a result message {m}")
    if page.results:
        check_eq(page.first, page.ids[0], f'{what}: RSM <first/> (id of the first result)')
        check_eq(page.last, page.ids[-1], f'{what}: RSM <last/> (id of the last result)')
    else:
        check(page.first is None and page.last is None,
              f'{what}: empty page with RSM first/last: {r}')
    return page


async def walk_forward(c, owner=None, with_jid=None):
    """All results of a query, paging forward with <after/>."""
    pages = [await mam_page(c, owner, with_jid)]
    while not pages[-1].complete:
        check(pages[-1].results, f'empty page without complete="true" paging forward: {pages}')
        check(len(pages) < 50, f'more than 50 pages paging forward: {pages[-3:]}')
        pages.append(await mam_page(c, owner, with_jid, after=pages[-1].last))
    for p in pages[:-1]:
        check_eq(len(p.results), PAGE, f'size of a non-final page paging forward {p}')
    if pages[-1].results:
        # After the last item there is nothing more: an empty, complete page.
        tail = await mam_page(c, owner, with_jid, after=pages[-1].last)
        check(not tail.results, f'results after the last item: {tail}')
        check(tail.complete, f'page after the last item not complete="true": {tail.iq}')
    return pages


async def walk_backward(c, owner=None, with_jid=None):
    """All results of a query, from the last page (empty <before/>) back
    with <before/>; the pages are returned in archive order."""
    pages = [await mam_page(c, owner, with_jid, before=True)]
    while not pages[-1].complete:
        check(pages[-1].results, f'empty page without complete="true" paging backward: {pages}')
        check(len(pages) < 50, f'more than 50 pages paging backward: {pages[-3:]}')
        pages.append(await mam_page(c, owner, with_jid, before=pages[-1].first))
    for p in pages[:-1]:
        check_eq(len(p.results), PAGE, f'size of a non-final page paging backward {p}')
    pages.reverse()
    return pages


def flatten(pages):
    return [m for p in pages for m in p.results]


def forwarded(result):
    """The archived message inside a result (an ElementTree element)."""
    fwd = result.xml.find('{%s}result/{%s}forwarded' % (NS_MAM, NS_FORWARD))
    if fwd is None:
        raise TestFailure(f'result without <forwarded xmlns="{NS_FORWARD}"/>: {result}')
    inner = fwd.find('{jabber:client}message')
    if inner is None:
        raise TestFailure(f'<forwarded/> without a jabber:client <message/>: {result}')
    return fwd, inner


def ours(results):
    """The results that are this run's messages: (result, inner message)."""
    out = []
    for r in results:
        _, inner = forwarded(r)
        if (inner.get('id') or '').startswith(TAG + '-'):
            out.append((r, inner))
    return out


def check_ids_unique(results, what):
    ids = [r['mam_result']['id'] for r in results]
    check(all(ids), f'{what}: a result without an id: {ids}')
    dup = sorted({i for i in ids if ids.count(i) > 1})
    check(not dup, f'{what}: result ids returned more than once: {dup}')


def check_delay(result, before, after, what):
    fwd, _ = forwarded(result)
    delay = fwd.find('{%s}delay' % NS_DELAY)
    check(delay is not None, f'{what}: no <delay xmlns="{NS_DELAY}"/> in <forwarded/> (XEP-0313 §4.2): {result}')
    raw = delay.get('stamp')
    check(raw, f'{what}: <delay/> without a stamp: {result}')
    try:
        stamp = xep_0082.parse(raw)
    except Exception as e:  # noqa: BLE001 - any parse error is a failure
        raise TestFailure(f'{what}: <delay/> stamp {raw!r} is not a XEP-0082 DateTime: {e}')
    check(stamp.tzinfo is not None, f'{what}: <delay/> stamp {raw!r} has no time zone')
    check(before <= stamp <= after,
          f'{what}: <delay/> stamp {raw} not within the test run [{before.isoformat()}, {after.isoformat()}]')


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    before = datetime.now(timezone.utc) - timedelta(seconds=5)

    a = Client(ajid + '/mam-sender', apw, plugins=PLUGINS)
    b = Client(bjid + '/mam-live', bpw, plugins=PLUGINS)
    await a.start()
    await b.start()
    b2 = None
    try:
        await a.get_roster(timeout=TIMEOUT)
        await b.get_roster(timeout=TIMEOUT)
        a.send_presence()
        b.send_presence()
        await b.roster_get()  # bob's presence has been processed

        # 1. Live messages: alice -> bob's bare JID, and bob's note to himself.
        live = {}  # i -> stanza-id by bob

        async def send_and_receive(i):
            m = a.make_message(mto=bjid, mbody=body(i), mtype='chat')
            m['id'] = msg_id(i)
            oid = ET.SubElement(m.xml, '{%s}origin-id' % NS_SID)
            oid.set('id', origin_id(i))
            m.send()
            got = await b.messages.expect(lambda s: s['id'] == msg_id(i),
                                          f'live message {msg_id(i)} at bob')
            what = f'live message {i} {got}'
            check_eq(got['body'], body(i), f'body of {what}')
            check_eq(str(got['from']), str(a.boundjid), f"'from' of {what}")
            sids = stanza_ids(got.xml)
            check(sids, f'no <stanza-id xmlns="{NS_SID}"/> (XEP-0313 §3.5, XEP-0359 §4) in {what}')
            mine = [sid for by, sid in sids if by == bjid]
            check(len(mine) == 1,
                  f"want exactly one <stanza-id by='{bjid}'/> (the account's bare JID, "
                  f'XEP-0313 §3.5), got {sids} in {what}')
            check(mine[0], f'empty stanza-id in {what}')
            check_eq(origin_ids(got.xml), [origin_id(i)], f'<origin-id/> of {what}')
            live[i] = mine[0]

        for i in range(1, NOTE_AFTER + 1):
            await send_and_receive(i)
        note = b.make_message(mto=bjid, mbody=NOTE_BODY, mtype='chat')
        note['id'] = NOTE_ID
        note.send()
        got = await b.messages.expect(lambda s: s['id'] == NOTE_ID, "bob's note to himself")
        check_eq(got['body'], NOTE_BODY, "body of bob's note to himself")
        for i in range(NOTE_AFTER + 1, N + 1):
            await send_and_receive(i)
        live_ids = [live[i] for i in range(1, N + 1)]
        check(len(set(live_ids)) == N, f'live stanza-ids are not unique: {live_ids}')
        await b.roster_get()
        after = datetime.now(timezone.utc) + timedelta(seconds=5)

        # 2. A second resource of bob reads the archive.
        b2 = Client(bjid + '/mam-reader', bpw, plugins=PLUGINS)
        await b2.start()
        b2.send_presence()
        await b2.roster_get()

        info = await b2['xep_0030'].get_info(jid=bjid, local=False, cached=False, timeout=TIMEOUT)
        check(NS_MAM in info['disco_info']['features'],
              f"{NS_MAM} not in the disco#info features of the account's bare JID {bjid} "
              f'(XEP-0313 §6): {info}')

        # Forward, 5 per page, no 'to' on the query (the user's own archive).
        fwd_pages = await walk_forward(b2)
        fwd = flatten(fwd_pages)
        check_ids_unique(fwd, "bob's archive paged forward")
        got = ours(fwd)
        want_order = [msg_id(i) for i in range(1, NOTE_AFTER + 1)] + [NOTE_ID] + \
                     [msg_id(i) for i in range(NOTE_AFTER + 1, N + 1)]
        check_eq([inner.get('id') for _, inner in got], want_order,
                 "this run's messages in bob's archive paged forward, in order, each once "
                 f'(pages: {fwd_pages})')
        alice_results = [(r, inner) for r, inner in got if inner.get('id') != NOTE_ID]
        check_eq([r['mam_result']['id'] for r, _ in alice_results], live_ids,
                 "archive result ids of alice's messages vs. the live <stanza-id by='bob@localhost'/>")
        for i, (r, inner) in enumerate(alice_results, 1):
            what = f'archived message {i} in bob\'s archive {r}'
            check_eq(inner.findtext('{jabber:client}body'), body(i), f'body of {what}')
            check_eq(JID(inner.get('from') or '').bare, ajid, f"'from' of {what}")
            check_eq(JID(inner.get('to') or '').bare, bjid, f"'to' of {what}")
            check_eq(origin_ids(inner), [origin_id(i)], f'<origin-id/> kept in {what}')
            check_delay(r, before, after, what)
        note_r, note_inner = got[NOTE_AFTER]
        check_eq(note_inner.findtext('{jabber:client}body'), NOTE_BODY, "body of bob's archived note")
        check_delay(note_r, before, after, "bob's archived note")

        # The plugin's own iterator agrees.
        it_ids = [m['mam_result']['id']
                  async for m in b2['xep_0313'].iterate(rsm={'max': PAGE})]
        check_eq(it_ids, [r['mam_result']['id'] for r in fwd],
                 "bob's archive through slixmpp's xep_0313 iterate() vs. paging by hand")

        # Backward from the last page (empty <before/>); the query is
        # addressed to bob's bare JID this time.
        bwd_pages = await walk_backward(b2, owner=bjid)
        bwd = flatten(bwd_pages)
        check_eq([r['mam_result']['id'] for r in bwd], [r['mam_result']['id'] for r in fwd],
                 "bob's archive paged backward (in archive order) vs. paged forward")
        check_eq(bwd_pages[-1].ids, [r['mam_result']['id'] for r in fwd][-PAGE:],
                 'the last page (empty <before/>, XEP-0059 §2.5): the last 5 results')
        check_eq(bwd_pages[-1].ids[-1], live_ids[-1],
                 "the archive's newest message is alice's last one")

        # 'with' alice: her messages, not the note.
        with_pages = await walk_forward(b2, with_jid=JID(ajid))
        with_res = flatten(with_pages)
        check_ids_unique(with_res, "bob's archive with alice")
        for r in with_res:
            _, inner = forwarded(r)
            check(ajid in (JID(inner.get('from') or '').bare, JID(inner.get('to') or '').bare),
                  f'a result of the query with {ajid} that is neither from nor to {ajid}: {r}')
        check_eq([r['mam_result']['id'] for r, _ in ours(with_res)], live_ids,
                 f"this run's messages in bob's archive with {ajid} (the note must not be there)")
        # 'with' bob himself: the note, none of alice's messages.
        self_res = flatten(await walk_forward(b2, owner=bjid, with_jid=JID(bjid)))
        check_eq([inner.get('id') for _, inner in ours(self_res)], [NOTE_ID],
                 f"this run's messages in bob's archive with {bjid}")

        # Only the owner reads an archive.
        b2.messages.drain()
        try:
            r = await b2['xep_0313'].retrieve(jid=JID(ajid), rsm={'max': PAGE}, timeout=TIMEOUT)
        except Exception as e:  # IqError
            iq = getattr(e, 'iq', None)
            if iq is None:
                raise
            check_eq(iq['type'], 'error', f"type of the answer to bob's query of {ajid}'s archive")
            check_eq(error_condition(iq), 'forbidden',
                     f"error condition when bob queries {ajid}'s archive (XEP-0313 §4.1.2): {iq}")
        else:
            raise TestFailure(f"bob's query of {ajid}'s archive succeeded "
                              f"(results: {len(r['mam']['results'])}): {r}")
        await b2.messages.expect_none(
            lambda s: s.xml.find('{%s}result' % NS_MAM) is not None,
            f"MAM result sent to bob from {ajid}'s archive", wait=0.5)

        # alice's archive: her N outgoing messages, with bob.
        a_res = flatten(await walk_forward(a, with_jid=JID(bjid)))
        check_ids_unique(a_res, "alice's archive with bob")
        a_ours = ours(a_res)
        check_eq([inner.get('id') for _, inner in a_ours], [msg_id(i) for i in range(1, N + 1)],
                 f"this run's messages in alice's archive with {bjid} (outgoing, in order, "
                 "each once; not bob's note to himself)")
        for i, (r, inner) in enumerate(a_ours, 1):
            what = f"archived message {i} in alice's archive {r}"
            check_eq(inner.get('from'), str(a.boundjid), f"'from' of {what} (alice's full JID)")
            check_eq(JID(inner.get('to') or '').bare, bjid, f"'to' of {what}")
            check_eq(inner.findtext('{jabber:client}body'), body(i), f'body of {what}')
            check_delay(r, before, after, what)
    finally:
        if b2 is not None:
            await b2.stop()
        await b.stop()
        await a.stop()


if __name__ == '__main__':
    run_test('test_mam', test)
