#!/usr/bin/python3
"""Offline messages (XEP-0160, RFC 6121 §8.5.2.2.1).

bob is offline; alice sends three chat messages to his bare JID. When bob
logs in and sends initial presence he receives them, in order, with their
original 'from', body and id, each with a XEP-0203 <delay/> whose stamp is
the time the server stored it. A second login receives none of them again.
"""

from datetime import datetime, timedelta, timezone

from common import (DOMAIN, NS_DELAY, Client, TestFailure, alice, bob, check,
                    check_eq, run_test)

BODIES = ['offline one', 'offline two', 'offline three (ünïcödé)']


def is_offline_msg(m):
    return m['id'].startswith('offline-')


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    before = datetime.now(timezone.utc) - timedelta(seconds=5)

    # alice sends while bob has no session at all.
    a = Client(ajid, apw)
    await a.start()
    alice_full = str(a.boundjid)
    try:
        for i, body in enumerate(BODIES, 1):
            m = a.make_message(mto=bjid, mbody=body, mtype='chat')
            m['id'] = f'offline-{i}'
            m.send()
        # An IQ round trip: the messages before it have been processed.
        await a.roster_get()
        # None of them may bounce.
        await a.messages.expect_none(lambda m: m['type'] == 'error',
                                     'error answer to a message for an offline user', wait=1.0)
    finally:
        await a.stop()

    # bob logs in; offline messages come after his initial presence.
    b = Client(bjid, bpw, plugins=('xep_0203',))
    await b.start()
    try:
        await b.get_roster(timeout=10)
        b.send_presence()
        got = []
        for i in range(len(BODIES)):
            got.append(await b.messages.expect(
                is_offline_msg, f'offline message #{i + 1} of {len(BODIES)} at bob'))
        after = datetime.now(timezone.utc) + timedelta(seconds=5)
        check_eq([m['id'] for m in got], [f'offline-{i}' for i in range(1, len(BODIES) + 1)],
                 'order of the offline messages (ids)')
        for i, (m, body) in enumerate(zip(got, BODIES), 1):
            what = f'offline message {i} {m}'
            check_eq(m['body'], body, f'body of {what}')
            check_eq(m['type'], 'chat', f'type of {what}')
            check_eq(str(m['from']), alice_full, f"'from' of {what}")
            delay = m.xml.find('{%s}delay' % NS_DELAY)
            check(delay is not None, f'no <delay xmlns="{NS_DELAY}"/> (XEP-0203) in {what}')
            stamp = m['delay']['stamp']
            check(stamp is not None, f'<delay/> without a parsable stamp in {what}')
            if stamp.tzinfo is None:
                raise TestFailure(f'<delay/> stamp {delay.get("stamp")!r} has no time zone (XEP-0082) in {what}')
            check(before <= stamp <= after,
                  f'<delay/> stamp {stamp.isoformat()} not within the test run '
                  f'[{before.isoformat()}, {after.isoformat()}] in {what}')
            dfrom = delay.get('from')
            check(dfrom in (None, DOMAIN), f"<delay/> from={dfrom!r}, want the server's domain {DOMAIN!r} in {what}")
        # Nothing else offline arrives.
        await b.messages.expect_none(is_offline_msg, 'extra offline message', wait=1.0)
    finally:
        await b.stop()

    # Delivered messages are deleted from the offline store: a new session
    # gets none of them.
    b2 = Client(bjid, bpw, plugins=('xep_0203',))
    await b2.start()
    try:
        await b2.get_roster(timeout=10)
        b2.send_presence()
        await b2.messages.expect_none(is_offline_msg, 'offline message delivered a second time', wait=2.0)
    finally:
        await b2.stop()


if __name__ == '__main__':
    run_test('test_offline', test)
