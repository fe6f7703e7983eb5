#!/usr/bin/python3
"""After run.sh restarted the server: persistent state survived.

- alice and bob still have each other with subscription='both';
- the offline message alice sent before the restart (test_before_restart.py)
  is delivered to bob with a XEP-0203 delay;
- presence still flows both ways (the subscriptions are effective, not just
  stored): alice sees bob come online and bob gets alice's presence in
  answer to his probe (RFC 6121 §4.2.2, §4.3).
"""

from common import (NS_DELAY, Client, alice, bob, check, check_eq,
                    is_presence, roster_items, run_test)
from test_before_restart import RESTART_BODY, RESTART_ID


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()

    a = Client(ajid, apw)
    await a.start()
    b = None
    try:
        r = await a.roster_get()
        item = roster_items(r).get(bjid)
        check(item is not None, f'{bjid} missing from alice\'s roster after the restart: {r}')
        check_eq(item['subscription'], 'both', f'subscription of {bjid} in alice\'s roster after the restart')
        a.send_presence()
        await a.roster_get()  # alice's initial presence has been processed

        b = Client(bjid, bpw, plugins=('xep_0203',))
        await b.start()
        r = await b.roster_get()
        item = roster_items(r).get(ajid)
        check(item is not None, f'{ajid} missing from bob\'s roster after the restart: {r}')
        check_eq(item['subscription'], 'both', f'subscription of {ajid} in bob\'s roster after the restart')
        check_eq(item['ask'], '', f'ask of {ajid} in bob\'s roster after the restart')

        b.send_presence()
        m = await b.messages.expect(lambda m: m['id'] == RESTART_ID,
                                    f'offline message {RESTART_ID} stored before the restart')
        check_eq(m['body'], RESTART_BODY, f'body of {m}')
        check_eq(m['from'].bare, ajid, f"'from' of {m}")
        check(m.xml.find('{%s}delay' % NS_DELAY) is not None, f'no XEP-0203 <delay/> in {m}')

        await a.presences.expect(is_presence(b.boundjid, 'available', full=True),
                                 f'available presence from {b.boundjid} at alice')
        await b.presences.expect(is_presence(a.boundjid, 'available', full=True),
                                 f'available presence from {a.boundjid} at bob (probe answer)')
    finally:
        if b is not None:
            await b.stop()
        await a.stop()


if __name__ == '__main__':
    run_test('test_after_restart', test)
