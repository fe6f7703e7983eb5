#!/usr/bin/python3
"""Message Carbons (XEP-0280, urn:xmpp:carbons:2).

alice is online with two resources, a1 and a2, both with carbons enabled
(slixmpp's xep_0280 plugin); bob has one resource.

- the server's disco#info lists urn:xmpp:carbons:2 (§3);
- bob -> a1's full JID: a1 gets the message, a2 a <received/> carbon
  wrapping it (§7): from alice's bare JID, to a2's full JID, same type,
  the forwarded original from bob's full JID to a1; a1 gets no carbon;
- a1 -> bob: a2 gets a <sent/> carbon (§8), a1 none;
- bob -> alice's bare JID: each of a1 and a2 gets the message exactly once,
  directly or as a <received/> carbon, never both (§7);
- a message with <private xmlns='urn:xmpp:carbons:2'/> (§9) is not copied,
  neither by the receiving server (bob -> a1) nor by the sending server
  (a1 -> bob), and is still delivered;
- after a2 disables carbons (§5) it gets no more copies of either kind,
  while a1 (still enabled) gets a <sent/> carbon of what a2 sends (§8:
  irrespective of whether the sending client has carbons enabled).
"""

import os
import time

from common import (DOMAIN, TIMEOUT, Client, alice, bob, check, check_eq,
                    run_test)

NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
PLUGINS = ('xep_0030', 'xep_0297', 'xep_0280')

# Unique per run: nothing left over from other tests can match.
TAG = f'carbons{os.getpid()}x{int(time.time())}'


def mid(name):
    return f'{TAG}-{name}'


def carbon_inner(st, kind):
    """The forwarded message inside a <received/> or <sent/> carbon (an
    ElementTree element), or None if st is not such a carbon."""
    wrapper = st.xml.find('{%s}%s' % (NS_CARBONS, kind))
    if wrapper is None:
        return None
    return wrapper.find('{%s}forwarded/{jabber:client}message' % NS_FORWARD)


def is_carbon(kind, msg_id):
    """Predicate: a <kind/> carbon forwarding the message with id msg_id."""
    def pred(st):
        inner = carbon_inner(st, kind)
        return inner is not None and inner.get('id') == msg_id
    return pred


def is_any_carbon(msg_id):
    def pred(st):
        return is_carbon('received', msg_id)(st) or is_carbon('sent', msg_id)(st)
    return pred


def is_direct(msg_id):
    """Predicate: the message itself (not a carbon of it)."""
    def pred(st):
        return (st['id'] == msg_id and
                st.xml.find('{%s}received' % NS_CARBONS) is None and
                st.xml.find('{%s}sent' % NS_CARBONS) is None)
    return pred


def send(c, to, name, body, private=False):
    m = c.make_message(mto=to, mbody=body, mtype='chat')
    m['id'] = mid(name)
    if private:
        m.enable('carbon_private')
    m.send()
    return mid(name)


def check_carbon(st, kind, owner, to, inner_from, inner_to, msg_id, body):
    """Check a carbon's wrapper and the forwarded original."""
    what = f'<{kind}/> carbon of {msg_id} {st}'
    # §11: a carbon MUST come from the user's own bare JID.
    check_eq(str(st['from']), owner, f"'from' of {what} (the account's bare JID, XEP-0280 §7/§8/§11)")
    check_eq(str(st['to']), to, f"'to' of {what} (the receiving resource's full JID)")
    check_eq(st['type'], 'chat', f"type of {what} (SHOULD be the original's)")
    wrappers = st.xml.findall('{%s}%s' % (NS_CARBONS, kind))
    check_eq(len(wrappers), 1, f'number of <{kind} xmlns="{NS_CARBONS}"/> in {what}')
    fwds = wrappers[0].findall('{%s}forwarded' % NS_FORWARD)
    check_eq(len(fwds), 1, f'number of <forwarded xmlns="{NS_FORWARD}"/> in {what}')
    inner = carbon_inner(st, kind)
    check(inner is not None, f'no jabber:client <message/> in <forwarded/> of {what}')
    check_eq(inner.get('from'), inner_from, f"'from' of the forwarded original in {what}")
    check_eq(inner.get('to'), inner_to, f"'to' of the forwarded original in {what}")
    check_eq(inner.get('type'), 'chat', f'type of the forwarded original in {what}')
    check_eq(inner.findtext('{jabber:client}body'), body, f'body of the forwarded original in {what}')


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    a1 = Client(ajid + '/carbons-1', apw, plugins=PLUGINS)
    a2 = Client(ajid + '/carbons-2', apw, plugins=PLUGINS)
    b = Client(bjid + '/carbons-b', bpw, plugins=PLUGINS)
    clients = (a1, a2, b)
    for c in clients:
        await c.start()
    try:
        for c in clients:
            await c.get_roster(timeout=TIMEOUT)
            c.send_presence()
        for c in clients:
            await c.roster_get()  # the presences have been processed
        A1, A2, B = str(a1.boundjid), str(a2.boundjid), str(b.boundjid)

        # 0. Discovery (§3).
        info = await a1['xep_0030'].get_info(jid=DOMAIN, local=False, cached=False, timeout=TIMEOUT)
        check(NS_CARBONS in info['disco_info']['features'],
              f'{NS_CARBONS} not in the server disco#info features (XEP-0280 §3): {info}')

        # 1. Enable on both of alice's resources (§4).
        for c in (a1, a2):
            r = await c['xep_0280'].enable(timeout=TIMEOUT)
            check_eq(r['type'], 'result', f'type of the answer to <enable/> from {c.boundjid}')

        # 2. Received carbon: bob -> a1's full JID.
        body = f'to a1 directly ({TAG})'
        i = send(b, A1, 'rcv', body)
        got = await a1.messages.expect(is_direct(i), f'{i} at a1 (its addressee)')
        check_eq(got['body'], body, f'body of {i} at a1')
        check_eq(str(got['from']), B, f"'from' of {i} at a1")
        c = await a2.messages.expect(is_carbon('received', i), f'<received/> carbon of {i} at a2')
        check_carbon(c, 'received', ajid, A2, B, A1, i, body)
        await a2.messages.expect_none(is_direct(i), f'{i} delivered to a2 itself (it was sent to a1)', wait=0.2)
        await a1.messages.expect_none(is_any_carbon(i),
                                      f'carbon of {i} at a1, which got the original (XEP-0280 §7 MUST NOT)', wait=0.3)

        # 3. Sent carbon: a1 -> bob.
        body = f'from a1 to bob ({TAG})'
        i = send(a1, bjid, 'sent', body)
        got = await b.messages.expect(is_direct(i), f'{i} at bob')
        check_eq(str(got['from']), A1, f"'from' of {i} at bob")
        c = await a2.messages.expect(is_carbon('sent', i), f'<sent/> carbon of {i} at a2')
        check_carbon(c, 'sent', ajid, A2, A1, bjid, i, body)
        await a1.messages.expect_none(is_any_carbon(i),
                                      f'carbon of {i} at a1, its sender (XEP-0280 §8 SHOULD NOT)', wait=0.3)
        await b.messages.expect_none(is_any_carbon(i), f'carbon of {i} at bob', wait=0.1)

        # 4. To alice's bare JID: each resource gets it exactly once.
        body = f'to alice bare ({TAG})'
        i = send(b, ajid, 'bare', body)
        for c, name in ((a1, 'a1'), (a2, 'a2')):
            got = await c.messages.expect(lambda s, i=i: is_direct(i)(s) or is_carbon('received', i)(s),
                                          f'{i} (sent to the bare JID) or a <received/> carbon of it at {name}')
            if is_direct(i)(got):
                check_eq(got['body'], body, f'body of {i} at {name}')
                check_eq(str(got['from']), B, f"'from' of {i} at {name}")
            else:
                check_carbon(got, 'received', ajid, str(c.boundjid), B, ajid, i, body)
        for c, name in ((a1, 'a1'), (a2, 'a2')):
            await c.messages.expect_none(
                lambda s, i=i: is_direct(i)(s) or is_any_carbon(i)(s),
                f'second copy of {i} at {name} (XEP-0280 §7: a carbon only to resources '
                'that did not receive the message)', wait=0.5)

        # 5. <private/> (§9): no copies either way; still delivered.
        #    Each private message is followed by an ordinary one from the
        #    same sender; once the ordinary one's carbon is at a2, a carbon
        #    of the private one would have arrived before it.
        i = send(b, A1, 'private-in', f'private to a1 ({TAG})', private=True)
        got = await a1.messages.expect(is_direct(i), f'private message {i} at a1')
        check_eq(got['body'], f'private to a1 ({TAG})', f'body of {i} at a1')
        j = send(b, A1, 'after-private-in', f'after private to a1 ({TAG})')
        await a1.messages.expect(is_direct(j), f'{j} at a1')
        await a2.messages.expect(is_carbon('received', j), f'<received/> carbon of {j} at a2')
        await a2.messages.expect_none(is_any_carbon(i),
                                      f'carbon of the <private/> message {i} (XEP-0280 §9: the receiving '
                                      'server MUST NOT)', wait=0.3)

        i = send(a1, bjid, 'private-out', f'private to bob ({TAG})', private=True)
        got = await b.messages.expect(is_direct(i), f'private message {i} at bob')
        check_eq(got['body'], f'private to bob ({TAG})', f'body of {i} at bob')
        j = send(a1, bjid, 'after-private-out', f'after private to bob ({TAG})')
        await b.messages.expect(is_direct(j), f'{j} at bob')
        await a2.messages.expect(is_carbon('sent', j), f'<sent/> carbon of {j} at a2')
        await a2.messages.expect_none(is_any_carbon(i),
                                      f'carbon of the <private/> message {i} (XEP-0280 §9: the sending '
                                      'server MUST NOT)', wait=0.3)

        # 6. a2 disables carbons (§5): no more copies for it.
        r = await a2['xep_0280'].disable(timeout=TIMEOUT)
        check_eq(r['type'], 'result', 'type of the answer to <disable/> from a2')
        off_sent = send(a1, bjid, 'off-sent', f'a1 to bob, a2 disabled ({TAG})')
        await b.messages.expect(is_direct(off_sent), f'{off_sent} at bob')
        off_rcv = send(b, A1, 'off-rcv', f'bob to a1, a2 disabled ({TAG})')
        await a1.messages.expect(is_direct(off_rcv), f'{off_rcv} at a1')
        # A marker from bob straight to a2, sent after both: once it is
        # there, any carbon of the two would have been delivered.
        k = send(b, A2, 'marker', f'marker for a2 ({TAG})')
        await a2.messages.expect(is_direct(k), f'{k} at a2')
        for x in (off_sent, off_rcv):
            await a2.messages.expect_none(is_any_carbon(x),
                                          f'carbon of {x} at a2 after it disabled carbons (XEP-0280 §5)',
                                          wait=0.3)

        # a2, now disabled, sends: a1 (still enabled) gets a <sent/> carbon.
        body = f'from a2 to bob ({TAG})'
        i = send(a2, bjid, 'from-a2', body)
        await b.messages.expect(is_direct(i), f'{i} at bob')
        c = await a1.messages.expect(is_carbon('sent', i), f'<sent/> carbon at a1 of {i} sent by a2')
        check_carbon(c, 'sent', ajid, A1, A2, bjid, i, body)
        await a2.messages.expect_none(is_any_carbon(i), f'carbon of {i} at a2, its sender', wait=0.3)
    finally:
        for c in reversed(clients):
            await c.stop()


if __name__ == '__main__':
    run_test('test_carbons', test)
