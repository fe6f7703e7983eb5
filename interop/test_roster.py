#!/usr/bin/python3
"""Roster management (RFC 6121 §2): add an item with a name and two groups,
read it back, rename it, remove it; roster versioning (RFC 6121 §2.6).

Leaves alice's roster without bob (test_presence.py starts from there).
"""

from common import (NS_ROSTERVER, Client, alice, bob, check, check_eq,
                    roster_items, run_test)

GROUPS = ['Friends', 'Work']


def push_for(jid, pred=lambda item: True):
    """Predicate: a roster push carrying jid whose item satisfies pred."""
    def match(iq):
        items = roster_items(iq)
        return jid in items and pred(items[jid])
    return match


def check_item(item, jid, name, groups, where):
    check(item is not None, f'{jid} missing from {where}')
    check_eq(item['name'], name, f'name of {jid} in {where}')
    check_eq(sorted(item['groups']), sorted(groups), f'groups of {jid} in {where}')
    # RFC 6121 §2.1.2.5; slixmpp ignores items without a subscription
    # attribute, so an omitted 'none' is an interoperability failure.
    check_eq(item['subscription'], 'none', f'subscription of {jid} in {where}')
    check_eq(item['ask'], '', f'ask of {jid} in {where}')


async def test():
    ajid, apw = alice()
    bjid, _ = bob()
    c = Client(ajid, apw)
    await c.start()
    try:
        # Roster versioning must be advertised after authentication
        # (RFC 6121 §2.6.1); slixmpp then sends ver in roster gets.
        post_auth = c.stream_features[-1]
        check(post_auth.find('{%s}ver' % NS_ROSTERVER) is not None,
              f'<ver xmlns="{NS_ROSTERVER}"/> not advertised: {c.features_xml[-1]}')
        check('rosterver' in c.features, 'slixmpp did not enable roster versioning')

        # Initial roster through slixmpp's own API (sends ver='').
        r0 = await c.get_roster(timeout=10)
        ver0 = r0['roster']['ver']
        check(ver0 is not None and ver0 != '',
              f'roster result to a get with ver="" has no ver attribute (RFC 6121 §2.6.3): {r0}')
        check(bjid not in roster_items(r0), f'{bjid} already in the fresh roster: {r0}')

        # Add bob with a name and two groups (slixmpp's update_roster sends
        # no subscription attribute).
        await c.update_roster(bjid, name='Bob', groups=GROUPS, timeout=10)
        push = await c.roster_pushes.expect(push_for(bjid), f'roster push adding {bjid}')
        check_item(roster_items(push).get(bjid), bjid, 'Bob', GROUPS, f'roster push {push}')
        ver1 = push['roster']['ver']
        check(ver1 and ver1 != ver0, f'roster push after a change has ver {ver1!r} (previous {ver0!r}): {push}')

        # Read it back: plain roster get, no versioning.
        r = await c.roster_get()
        check_item(roster_items(r).get(bjid), bjid, 'Bob', GROUPS, f'roster result {r}')

        # Rename.
        await c.update_roster(bjid, name='Robert', groups=GROUPS, timeout=10)
        push = await c.roster_pushes.expect(push_for(bjid, lambda i: i['name'] == 'Robert'),
                                            f'roster push renaming {bjid} to Robert')
        ver2 = push['roster']['ver']
        check(ver2 and ver2 not in (ver0, ver1), f'roster push ver {ver2!r} not new: {push}')
        r = await c.roster_get()
        check_item(roster_items(r).get(bjid), bjid, 'Robert', GROUPS, f'roster result {r}')

        # Versioning: with the current version the roster has not changed,
        # so the result must be empty (RFC 6121 §2.6.3, example 2.6.3).
        r = await c.roster_get(ver=ver2)
        q = r.xml.find('{jabber:iq:roster}query')
        check(q is None or len(q) == 0,
              f'roster get with the current ver {ver2!r} returned items: {r}')

        # With a stale version: either the full roster, or an empty result
        # followed by pushes of what changed since (RFC 6121 §2.6.3).
        c.roster_pushes.drain()
        r = await c.roster_get(ver=ver0)
        items = roster_items(r)
        if r.xml.find('{jabber:iq:roster}query') is not None and items:
            check_item(items.get(bjid), bjid, 'Robert', GROUPS, f'roster result to stale ver {r}')
            check_eq(r['roster']['ver'], ver2, f'ver of the full roster result {r}')
        else:
            push = await c.roster_pushes.expect(
                push_for(bjid, lambda i: i['name'] == 'Robert'),
                f'roster push of {bjid} after an empty result to a get with stale ver {ver0!r}')

        # Remove.
        c.del_roster_item(bjid)
        push = await c.roster_pushes.expect(push_for(bjid, lambda i: i['subscription'] == 'remove'),
                                            f"roster push with subscription='remove' for {bjid}")
        check(push['roster']['ver'] not in ('', None, ver2), f'removal push ver not new: {push}')
        r = await c.roster_get()
        check(bjid not in roster_items(r), f'{bjid} still in the roster after removal: {r}')
        # slixmpp drops its local copy when it processes the removal push.
        check(not c.client_roster.has_jid(bjid), f"{bjid} still in slixmpp's roster after removal")
    finally:
        await c.stop()


if __name__ == '__main__':
    run_test('test_roster', test)
