#!/usr/bin/python3
"""Presence subscriptions (RFC 6121 §3) and presence broadcast (§4).

alice subscribes to bob, bob approves and subscribes back, alice approves:
both rosters end with subscription='both', each side receives the other's
available presence, and when bob disconnects alice receives unavailable
presence from bob's full JID.

Leaves alice and bob mutually subscribed (test_before_restart.py and
test_after_restart.py rely on it).
"""

from common import (Client, alice, bob, check, check_eq, is_presence,
                    roster_items, run_test)


def push_for(jid, subscription, ask=''):
    """Predicate: a roster push for jid with this subscription and ask."""
    def match(iq):
        item = roster_items(iq).get(jid)
        return item is not None and item['subscription'] == subscription and item['ask'] == ask
    return match


def describe(subscription, ask):
    return f"subscription='{subscription}'" + (f" ask='{ask}'" if ask else ' and no ask')


async def expect_push(client, jid, subscription, ask=''):
    return await client.roster_pushes.expect(
        push_for(jid, subscription, ask),
        f'roster push to {client.boundjid} for {jid} with {describe(subscription, ask)}')


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    a = Client(ajid, apw)
    b = Client(bjid, bpw)
    await a.start()
    await b.start()
    try:
        # Both request the roster and send initial presence (RFC 6121 §4.2).
        await a.get_roster(timeout=10)
        await b.get_roster(timeout=10)
        a.send_presence()
        b.send_presence()
        # The server broadcasts initial presence to all of the user's
        # available resources, including the one that sent it (RFC 6121
        # §4.2.2).
        for c in (a, b):
            await c.presences.expect(is_presence(c.boundjid, 'available', full=True),
                                     f'{c.boundjid} receiving its own initial presence')

        # 1. alice -> bob: subscribe. alice's server pushes the pending
        #    item (§3.1.2) and delivers the request stamped with alice's
        #    bare JID (§3.1.3).
        a.send_presence(pto=bjid, ptype='subscribe')
        await expect_push(a, bjid, 'none', 'subscribe')
        req = await b.presences.expect(is_presence(ajid, 'subscribe'), f'subscribe from {ajid} at bob')
        check_eq(str(req['from']), ajid, "'from' of the subscription request (bare JID, RFC 6121 §3.1.2)")

        # 2. bob approves (§3.1.5): bob's roster gets alice with 'from';
        #    alice gets 'subscribed', a push with 'to', and bob's current
        #    presence from his full JID (§3.1.6).
        b.send_presence(pto=ajid, ptype='subscribed')
        await expect_push(b, ajid, 'from')
        await a.presences.expect(is_presence(bjid, 'subscribed'), f'subscribed from {bjid} at alice')
        await expect_push(a, bjid, 'to')
        pres = await a.presences.expect(is_presence(b.boundjid, 'available', full=True),
                                        f'available presence from {b.boundjid} at alice after approval')
        check_eq(str(pres['from']), str(b.boundjid), "'from' of bob's presence")

        # 3. bob subscribes back.
        b.send_presence(pto=ajid, ptype='subscribe')
        await expect_push(b, ajid, 'from', 'subscribe')
        await a.presences.expect(is_presence(bjid, 'subscribe'), f'subscribe from {bjid} at alice')

        # 4. alice approves: both sides 'both'; bob receives alice's presence.
        a.send_presence(pto=bjid, ptype='subscribed')
        await expect_push(a, bjid, 'both')
        await b.presences.expect(is_presence(ajid, 'subscribed'), f'subscribed from {ajid} at bob')
        await expect_push(b, ajid, 'both')
        await b.presences.expect(is_presence(a.boundjid, 'available', full=True),
                                 f'available presence from {a.boundjid} at bob after approval')

        # 5. Both rosters, read from the server, say 'both' with no ask.
        for client, contact in ((a, bjid), (b, ajid)):
            r = await client.roster_get()
            item = roster_items(r).get(contact)
            check(item is not None, f'{contact} missing from the roster of {client.boundjid}: {r}')
            check_eq(item['subscription'], 'both', f'subscription of {contact} in {r}')
            check_eq(item['ask'], '', f'ask of {contact} in {r}')

        # 6. bob leaves: alice receives unavailable from bob's full JID
        #    (RFC 6121 §4.5.2 / §4.6).
        bob_full = str(b.boundjid)
        await b.stop()
        await a.presences.expect(is_presence(bob_full, 'unavailable', full=True),
                                 f'unavailable presence from {bob_full} at alice after bob disconnected')
    finally:
        await b.stop()
        await a.stop()


if __name__ == '__main__':
    run_test('test_presence', test)
