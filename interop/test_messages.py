#!/usr/bin/python3
"""Messages and server IQs.

- chat messages alice -> bob (bare and full JID) arrive with body, type,
  id and alice's full JID as 'from' (RFC 6120 §8.1.2.1, RFC 6121 §8.5);
- a XEP-0085 chat state (<composing/>, no body) arrives intact;
- a XEP-0184 receipt request arrives, and bob's automatic receipt comes
  back to alice;
- a message to a user that does not exist bounces with service-unavailable
  (RFC 6121 §8.5.1 allows dropping it too; Dormouse bounces it);
- XEP-0199 ping to the server is answered;
- XEP-0030 disco#info on the server lists urn:xmpp:ping.
"""

from common import (DOMAIN, NS_CHATSTATES, NS_PING, NS_RECEIPTS, Client,
                    alice, bob, check, check_eq, error_condition, run_test)


def message(frm=None, mid=None, body=None, full=True):
    """Predicate: a message from frm (full JID if full) with id/body."""
    def pred(m):
        src = str(m['from']) if full else m['from'].bare
        return ((frm is None or src == str(frm)) and
                (mid is None or m['id'] == mid) and
                (body is None or m['body'] == body))
    return pred


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    a = Client(ajid, apw, plugins=('xep_0030', 'xep_0085', 'xep_0184', 'xep_0199'))
    b = Client(bjid, bpw, plugins=('xep_0030', 'xep_0085', 'xep_0184'))
    await a.start()
    await b.start()
    try:
        await a.get_roster(timeout=10)
        await b.get_roster(timeout=10)
        a.send_presence()
        b.send_presence()
        # bob must be available (not just connected) for messages to his
        # bare JID to be delivered rather than stored offline. An IQ round
        # trip on his stream after the presence makes sure the server has
        # processed it.
        await b.roster_get()

        # 1. Chat message to bob's bare JID.
        m = a.make_message(mto=bjid, mbody='Hello, Bob!', mtype='chat')
        m['id'] = 'chat-1'
        m.send()
        got = await b.messages.expect(message(mid='chat-1'), "alice's chat message chat-1 at bob")
        check_eq(str(got['from']), str(a.boundjid), "'from' of chat-1 (sender's full JID)")
        check_eq(got['type'], 'chat', 'type of chat-1')
        check_eq(got['body'], 'Hello, Bob!', 'body of chat-1')
        check(got['to'].bare == bjid, f"'to' of chat-1 is {got['to']}")

        # 2. Chat message to bob's full JID, with non-ASCII and markup-like text.
        text = 'Ça va? <b>&amp; 😀</b>'
        m = a.make_message(mto=b.boundjid, mbody=text, mtype='chat')
        m['id'] = 'chat-2'
        m.send()
        got = await b.messages.expect(message(mid='chat-2'), "chat-2 at bob's full JID")
        check_eq(got['body'], text, 'body of chat-2')

        # 3. XEP-0085 chat state without body.
        m = a.make_message(mto=bjid, mtype='chat')
        m['id'] = 'state-1'
        m['chat_state'] = 'composing'
        m.send()
        got = await b.messages.expect(message(mid='state-1'), '<composing/> chat state at bob')
        check(got.xml.find('{%s}composing' % NS_CHATSTATES) is not None,
              f'<composing xmlns="{NS_CHATSTATES}"/> missing: {got}')
        check_eq(got['chat_state'], 'composing', 'chat state parsed by slixmpp')
        check_eq(got['type'], 'chat', 'type of the chat state message')

        # 4. XEP-0184 receipt request; bob's slixmpp answers automatically.
        m = a.make_message(mto=bjid, mbody='Did you get this?', mtype='chat')
        m['id'] = 'rcpt-1'
        m['request_receipt'] = True
        m.send()
        got = await b.messages.expect(message(mid='rcpt-1'), 'message rcpt-1 with a receipt request at bob')
        check(got.xml.find('{%s}request' % NS_RECEIPTS) is not None,
              f'<request xmlns="{NS_RECEIPTS}"/> missing: {got}')
        check_eq(got['body'], 'Did you get this?', 'body of rcpt-1')
        ack = await a.messages.expect(lambda s: s['receipt'] == 'rcpt-1',
                                      "bob's <received id='rcpt-1'/> at alice")
        check_eq(str(ack['from']), str(b.boundjid), "'from' of the receipt")

        # 5. Message to a user that does not exist: RFC 6121 §8.5.1 lets
        #    the server drop it or answer service-unavailable; this server
        #    is expected to bounce it.
        ghost = f'ghost@{DOMAIN}'
        m = a.make_message(mto=ghost, mbody='Anyone there?', mtype='chat')
        m['id'] = 'ghost-1'
        m.send()
        err = await a.messages.expect(message(mid='ghost-1', full=False),
                                      f'error bounce for the message to {ghost}')
        check_eq(err['type'], 'error', f'type of the answer to the message to {ghost}: {err}')
        check_eq(err['from'].bare, ghost, f"'from' of the bounce {err}")
        check_eq(error_condition(err), 'service-unavailable', f'error condition in {err}')

        # 6. XEP-0199 ping to the server.
        pong = await a['xep_0199'].send_ping(DOMAIN, timeout=10)
        check_eq(pong['type'], 'result', f'type of the ping answer {pong}')
        check_eq(pong['from'].full, DOMAIN, f"'from' of the ping answer {pong}")

        # 7. XEP-0030 disco#info on the server.
        info = await a['xep_0030'].get_info(jid=DOMAIN, local=False, cached=False, timeout=10)
        features = info['disco_info']['features']
        check(NS_PING in features, f'{NS_PING} not in the server disco#info features: {info}')
        identities = info['disco_info']['identities']
        check(any(i[0] == 'server' and i[1] == 'im' for i in identities),
              f'no server/im identity in the server disco#info (XEP-0030 §3.1): {info}')
    finally:
        await b.stop()
        await a.stop()


if __name__ == '__main__':
    run_test('test_messages', test)
