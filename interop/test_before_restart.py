#!/usr/bin/python3
"""Before the server restart: leave state that test_after_restart.py checks
once run.sh has stopped and restarted the server.

- bob's roster (from test_presence.py) has alice with subscription='both';
- alice sends bob, who is offline, a chat message; it must be stored, not
  bounced.
"""

from common import Client, alice, bob, check, check_eq, roster_items, run_test

RESTART_ID = 'restart-1'
RESTART_BODY = 'sent before the restart'


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()

    # bob: check the precondition, without sending presence (so he never
    # becomes available and nothing is delivered to this session).
    b = Client(bjid, bpw)
    await b.start()
    try:
        r = await b.roster_get()
        item = roster_items(r).get(ajid)
        check(item is not None, f'{ajid} missing from bob\'s roster before the restart: {r}')
        check_eq(item['subscription'], 'both', f'subscription of {ajid} in bob\'s roster before the restart')
    finally:
        await b.stop()

    a = Client(ajid, apw)
    await a.start()
    try:
        m = a.make_message(mto=bjid, mbody=RESTART_BODY, mtype='chat')
        m['id'] = RESTART_ID
        m.send()
        await a.roster_get()  # round trip: the message has been processed
        await a.messages.expect_none(lambda m: m['type'] == 'error',
                                     'error answer to the message for offline bob', wait=1.0)
    finally:
        await a.stop()


if __name__ == '__main__':
    run_test('test_before_restart', test)
