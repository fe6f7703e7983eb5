#!/usr/bin/python3
"""Multi-user chat (XEP-0045) with slixmpp's xep_0045 plugin, and the room
archive (XEP-0313 at the room JID).

- alice joins a new room: the self-presence has status codes 110 and 201
  (a new room, locked), she is owner and moderator;
- she reads the muc#owner configuration form with the plugin, makes the
  room persistent with archiving on and submits it;
- bob joins with join_muc_wait: occupants, self-presence (110), subject;
- alice sends a groupchat message: bob and alice get it from
  room/Alice with a <stanza-id by='room'/> (XEP-0359);
- alice changes the subject with set_subject: bob gets it;
- bob queries the room's archive with the xep_0313 plugin: alice's
  message is there with the same stanza-id;
- alice kicks bob with set_role(none): bob gets his unavailable
  presence with 307 and 110.
"""

import os
import time

from slixmpp import JID

from common import (DOMAIN, TIMEOUT, Client, alice, bob, check, check_eq,
                    run_test)

NS_MUC_USER = 'http://jabber.org/protocol/muc#user'
NS_SID = 'urn:xmpp:sid:0'
PLUGINS = ('xep_0030', 'xep_0045', 'xep_0004', 'xep_0059', 'xep_0297', 'xep_0313', 'xep_0359')


def codes(pres):
    x = pres.xml.find('{%s}x' % NS_MUC_USER)
    if x is None:
        return set()
    return {s.get('code') for s in x.findall('{%s}status' % NS_MUC_USER)}


def item(pres):
    return pres.xml.find('{%s}x/{%s}item' % (NS_MUC_USER, NS_MUC_USER))


def stanza_id(msg, by):
    for s in msg.xml.findall('{%s}stanza-id' % NS_SID):
        if s.get('by') == by:
            return s.get('id')
    return None


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    room = JID(f'interop{os.getpid()}x{int(time.time())}@conference.{DOMAIN}')
    a = Client(ajid, apw, plugins=PLUGINS)
    b = Client(bjid, bpw, plugins=PLUGINS)
    await a.start()
    await b.start()
    try:
        # 1. Creation.
        pres, _subject, _occupants, _history = await a['xep_0045'].join_muc_wait(
            room, 'Alice', maxstanzas=0, timeout=TIMEOUT)
        check({'110', '201'} <= codes(pres), f'self-presence of the creator lacks 110/201: {pres}')
        check_eq(item(pres).get('affiliation'), 'owner', "creator's affiliation")
        check_eq(item(pres).get('role'), 'moderator', "creator's role")

        # 2. Configuration with the plugin.
        form = await a['xep_0045'].get_room_config(room, timeout=TIMEOUT)
        fields = {f.get('var') for f in form.xml.findall('{jabber:x:data}field')}
        for var in ('muc#roomconfig_persistentroom', 'muc#roomconfig_membersonly',
                    'muc#roomconfig_enablearchiving', 'muc#roomconfig_whois'):
            check(var in fields, f'{var} missing from the configuration form: {form}')
        submit = a['xep_0004'].make_form(ftype='submit')
        submit.add_field(var='FORM_TYPE', value='http://jabber.org/protocol/muc#roomconfig')
        submit.add_field(var='muc#roomconfig_persistentroom', ftype='boolean', value=True)
        submit.add_field(var='muc#roomconfig_enablearchiving', ftype='boolean', value=True)
        submit.add_field(var='muc#roomconfig_roomname', value='Interop room')
        await a['xep_0045'].set_room_config(room, submit, timeout=TIMEOUT)
        info = await b['xep_0030'].get_info(jid=room, local=False, cached=False, timeout=TIMEOUT)
        features = info['disco_info']['features']
        for f in ('http://jabber.org/protocol/muc', 'muc_persistent', 'urn:xmpp:mam:2'):
            check(f in features, f'{f} not in the room disco#info: {info}')

        # 3. bob joins.
        pres, subject, occupants, _ = await b['xep_0045'].join_muc_wait(
            room, 'Bob', maxstanzas=0, timeout=TIMEOUT)
        check('110' in codes(pres), f"bob's self-presence lacks 110: {pres}")
        check_eq(item(pres).get('role'), 'participant', "bob's role")
        check(any(str(o['from']) == f'{room}/Alice' for o in occupants),
              f'alice not among the occupants bob saw: {occupants}')
        await a.presences.expect(lambda p: str(p['from']) == f'{room}/Bob', "bob's join at alice")

        # 4. A groupchat message.
        a.messages.drain()
        b.messages.drain()
        m = a.make_message(mto=room, mbody='Hello, room!', mtype='groupchat')
        m['id'] = 'gc-1'
        m.send()
        got = await b.messages.expect(lambda s: s['id'] == 'gc-1' and s['type'] == 'groupchat',
                                      'the groupchat message at bob')
        check_eq(str(got['from']), f'{room}/Alice', "'from' of the groupchat message")
        check_eq(got['body'], 'Hello, room!', 'body of the groupchat message')
        sid = stanza_id(got, str(room))
        check(sid, f"no <stanza-id by='{room}'/> in {got}")
        echo = await a.messages.expect(lambda s: s['id'] == 'gc-1', 'the reflection at alice')
        check_eq(stanza_id(echo, str(room)), sid, "stanza-id of alice's reflection")

        # 5. Subject.
        a['xep_0045'].set_subject(room, 'Interop testing')
        subj = await b.messages.expect(lambda s: s['subject'] == 'Interop testing', 'the new subject at bob')
        check_eq(str(subj['from']), f'{room}/Alice', "'from' of the subject change")

        # 6. The room archive.
        it = b['xep_0313'].retrieve(jid=room, iterator=True, rsm={'max': 10})
        q = it.query
        q['id'] = q.stream.new_id()
        q['mam']['rsm']['max'] = '10'
        it.pre_cb(q)
        r = await q.send(timeout=TIMEOUT)
        it.post_cb(r)
        results = list(r['mam']['results'])
        bodies = [res['mam_result']['forwarded']['stanza']['body'] for res in results]
        check('Hello, room!' in bodies, f'the message is not in the room archive: {bodies}')
        ids = [res['mam_result']['id'] for res in results]
        check(sid in ids, f'archive ids {ids} lack the live stanza-id {sid}')

        # 7. Kick.
        b.presences.drain()
        await a['xep_0045'].set_role(room, 'Bob', 'none', reason='interop', timeout=TIMEOUT)
        gone = await b.presences.expect(
            lambda p: p['type'] == 'unavailable' and str(p['from']) == f'{room}/Bob',
            "bob's unavailable presence after the kick")
        check({'110', '307'} <= codes(gone), f'kick presence lacks 110/307: {gone}')
    finally:
        await b.stop()
        await a.stop()


if __name__ == '__main__':
    run_test('test_muc', test)
