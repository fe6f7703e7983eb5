#!/usr/bin/python3
"""XEP-0198 stream management with resumption, and XEP-0352 CSI.

- the server offers <sm xmlns='urn:xmpp:sm:3'/> and <csi xmlns='urn:xmpp:csi:0'/>
  after authentication; slixmpp's xep_0198 enables SM with resume and gets
  an SM-ID;
- alice's TCP connection is cut abruptly (a reset: no </stream:stream>),
  the way a phone loses its network; bob sends her a message while she is
  away;
- alice reconnects and slixmpp resumes the session (<resumed/>, no new
  bind, same full JID), and the message queued while she was cut arrives;
- the same again over direct TLS (XEP-0368);
- a CSI <inactive/> client still gets a chat message at once.
"""

import asyncio
import socket
import struct

from common import (HOST, Client, alice, bob, check, check_eq, port, run_test,
                    tls_port)

NS_SM = 'urn:xmpp:sm:3'
NS_CSI = 'urn:xmpp:csi:0'


def cut(client):
    """Drop the connection with a TCP reset, without closing the stream."""
    sock = client.transport.get_extra_info('socket')
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    client.transport.abort()


def wait_event(client, name, timeout=10):
    """Register now for the next event name; await the result to get it."""
    fut = asyncio.get_running_loop().create_future()

    def handler(ev):
        if not fut.done():
            fut.set_result(ev)
    client.add_event_handler(name, handler, disposable=True)
    return asyncio.wait_for(fut, timeout)


def message_with_body(body):
    return lambda m: m['body'] == body


async def cut_and_resume(a, b, direct_tls, n):
    jid_before = str(a.boundjid)
    sm = a.plugin['xep_0198']
    sm_id = sm.sm_id
    disconnected = wait_event(a, 'disconnected')
    cut(a)
    await disconnected

    # Sent while alice is cut: the server queues it in her hibernated
    # session (or on the dying connection, unacknowledged: replayed too).
    body = f'sent while you were away ({n})'
    b.send_message(mto=jid_before, mbody=body, mtype='chat')
    await b.roster_get()  # the server has routed it

    resumed = wait_event(a, 'session_resumed')
    sm_failed = wait_event(a, 'sm_failed')
    if direct_tls:
        a.connect((HOST, tls_port()), use_ssl=True)
    else:
        a.connect((HOST, port()), use_ssl=False, force_starttls=True)
    done, _ = await asyncio.wait([asyncio.ensure_future(resumed), asyncio.ensure_future(sm_failed)],
                                 timeout=10, return_when=asyncio.FIRST_COMPLETED)
    check(len(done) == 1, f'no <resumed/> or <failed/> within 10 s (features: {a.features_xml[-1:]})')
    ev = done.pop().result()
    check(ev.name == 'resumed', f'resumption failed: {ev}')
    check_eq(ev['previd'], sm_id, "previd of <resumed/>")
    check_eq(str(a.boundjid), jid_before, 'full JID after resumption')
    a.check_secure_scram(direct_tls)
    got = await a.messages.expect(message_with_body(body), f'the message queued while cut ({n})')
    check_eq(got['from'].bare, b.boundjid.bare, "'from' of the queued message")
    check(sm.enabled_in, 'SM not enabled after resumption')


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    a = Client(ajid, apw, plugins=('xep_0198',))
    b = Client(bjid, bpw)
    enabled = wait_event(a, 'sm_enabled')
    await a.start()
    await b.start()
    try:
        feats = a.stream_features[-1]
        check(feats.find('{%s}sm' % NS_SM) is not None, f'no <sm/> after SASL: {a.features_xml[-1]}')
        check(feats.find('{%s}csi' % NS_CSI) is not None, f'no <csi/> after SASL: {a.features_xml[-1]}')
        en = await enabled
        check(en['id'] != '', '<enabled/> without an id')
        check(en['resume'] in (True, 'true', '1'), f"<enabled/> without resume='true': {en}")
        a.send_presence()
        await a.roster_get()
        b.send_presence()
        await b.roster_get()

        await cut_and_resume(a, b, direct_tls=False, n=1)
        await cut_and_resume(a, b, direct_tls=True, n=2)

        # After resumption the stream works both ways, acks included.
        a.send_message(mto=b.boundjid, mbody='back again', mtype='chat')
        await b.messages.expect(message_with_body('back again'), "alice's message after resumption")

        # CSI: inactive clients still get chat messages at once.
        a.send_raw(f"<inactive xmlns='{NS_CSI}'/>")
        await a.roster_get()
        b.send_message(mto=a.boundjid, mbody='urgent while inactive', mtype='chat')
        await a.messages.expect(message_with_body('urgent while inactive'), 'a chat message while inactive')
        a.send_raw(f"<active xmlns='{NS_CSI}'/>")
    finally:
        await a.stop()
        await b.stop()


if __name__ == '__main__':
    run_test('test_sm', test)
