#!/usr/bin/python3
"""Personal eventing (XEP-0163 over XEP-0060, with XEP-0223 and XEP-0084).

alice and bob are mutual contacts (left so by test_presence.py). With
slixmpp's xep_0060, xep_0163, xep_0223, xep_0084 and xep_0115 plugins:

- bob declares interest in the OMEMO device list node (xep_0163
  add_interest: a '+notify' feature in his XEP-0115 caps), so the server
  asks his client for its disco#info and learns the hash;
- alice publishes an OMEMO-like device list with publish-options
  pubsub#access_model=open (as Conversations does): bob gets the event,
  a headline from alice's bare JID, and can retrieve the item;
- publishing again with access_model=presence is refused with
  <conflict/> and <precondition-not-met/> (the node is open);
- alice stores a XEP-0402 bookmark with xep_0223 (persist_items,
  access_model whitelist, and max_items max): she reads it back, bob is refused with
  <not-allowed/> and <closed-node/>; the node configuration (pubsub#owner)
  shows the whitelist;
- alice publishes an avatar (xep_0084 data and metadata): bob retrieves
  the data by id, identical;
- XEP-0048 bookmarks through private storage (xep_0048 + xep_0049) show
  the XEP-0402 bookmark, and one added that way appears in the XEP-0402
  node (urn:xmpp:bookmarks:1#compat);
- alice retracts the device list with notify: bob gets the retraction;
- bob subscribes (xep_0060) to a node his caps do not ask for: he gets
  the last item, lists the subscription, gets the next publication, and
  after unsubscribing no more.
"""

import asyncio
import os
import time
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048.stanza import Bookmarks
from slixmpp.xmlstream import ElementBase

from common import (TIMEOUT, Client, alice, bob, check, check_eq,
                    error_condition, roster_items, run_test)

PLUGINS = ('xep_0030', 'xep_0004', 'xep_0060', 'xep_0115', 'xep_0163', 'xep_0223', 'xep_0084',
           'xep_0049', 'xep_0048')
NS_AXOLOTL = 'eu.siacs.conversations.axolotl'
DEVICELIST = NS_AXOLOTL + '.devicelist'
NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'
NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors'
NS_EVENT = 'http://jabber.org/protocol/pubsub#event'

# Unique per run.
DEVICE = str(os.getpid() * 1000 + int(time.time()) % 1000)


class Conference(ElementBase):
    namespace = NS_BOOKMARKS
    name = 'conference'
    plugin_attrib = 'bookmark_conference'
    interfaces = {'name', 'autojoin'}


def device_list(device):
    el = ET.Element('{%s}list' % NS_AXOLOTL)
    ET.SubElement(el, '{%s}device' % NS_AXOLOTL, id=device)
    return el


def options(c, **fields):
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
    for var, value in fields.items():
        form.add_field(var='pubsub#' + var, value=value)
    return form


def app_condition(err_iq):
    e = err_iq.xml.find('{jabber:client}error')
    if e is None:
        return None
    for child in e:
        if child.tag.startswith('{%s}' % NS_PUBSUB_ERRORS):
            return child.tag.split('}', 1)[1]
    return None


async def expect_iq_error(coro, cond, app, what):
    try:
        await coro
    except IqError as e:
        check_eq(error_condition(e.iq), cond, what + ': condition')
        check_eq(app_condition(e.iq), app, what + ': pubsub condition')
        return
    raise AssertionError(f'{what}: succeeded, want {cond}')


def event_items(msg, node):
    """The <items/> of a pubsub event message for node (ElementTree)."""
    ev = msg.xml.find('{%s}event' % NS_EVENT)
    if ev is None:
        return None
    items = ev.find('{%s}items' % NS_EVENT)
    if items is None or items.get('node') != node:
        return None
    return items


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    a = await Client(ajid, apw, plugins=PLUGINS).start()
    b = await Client(bjid, bpw, plugins=PLUGINS).start()
    try:
        r = await a.roster_get()
        check_eq(roster_items(r).get(bjid, {}).get('subscription'), 'both', "bob in alice's roster")

        # bob: +notify for the device list in his caps, then presence.
        b['xep_0163'].add_interest(DEVICELIST)
        await b['xep_0115'].update_caps(broadcast=False)
        a.send_presence()
        b.send_presence()
        await asyncio.sleep(0.5)  # the server asks bob's client for its caps

        # alice publishes her device list, open to anyone.
        await a['xep_0060'].publish(None, DEVICELIST, id='current', payload=device_list(DEVICE),
                                    options=options(a, access_model='open'), timeout=TIMEOUT)

        def is_devicelist(m):
            items = event_items(m, DEVICELIST)
            return (items is not None and m['type'] == 'headline' and str(m['from']) == ajid and
                    items.find('{%s}item/{%s}list/{%s}device[@id="%s"]' % (NS_EVENT, NS_AXOLOTL, NS_AXOLOTL, DEVICE)) is not None)
        await b.messages.expect(is_devicelist, f'the device list event with device {DEVICE}')

        r = await b['xep_0060'].get_items(ajid, DEVICELIST, timeout=TIMEOUT)
        got = r.xml.find('.//{%s}device' % NS_AXOLOTL)
        check(got is not None and got.get('id') == DEVICE, f'bob retrieving the device list got {r}')

        await expect_iq_error(
            a['xep_0060'].publish(None, DEVICELIST, id='current', payload=device_list(DEVICE),
                                  options=options(a, access_model='presence'), timeout=TIMEOUT),
            'conflict', 'precondition-not-met', 'publishing with conflicting options')

        # A XEP-0402 bookmark through XEP-0223 private storage.
        conf = Conference()
        conf['name'] = 'Interop room'
        conf['autojoin'] = 'true'
        # XEP-0402 §3.3 wants max_items=max besides XEP-0223's options.
        await a['xep_0223'].store(conf, node=NS_BOOKMARKS, id='room@conference.localhost',
                                  options=options(a, max_items='max'), timeout=TIMEOUT)
        r = await a['xep_0223'].retrieve(NS_BOOKMARKS, timeout=TIMEOUT)
        item = r.xml.find('.//{http://jabber.org/protocol/pubsub}item')
        check(item is not None and item.get('id') == 'room@conference.localhost' and
              item.find('{%s}conference' % NS_BOOKMARKS).get('name') == 'Interop room',
              f'alice reading her bookmarks got {r}')
        await expect_iq_error(b['xep_0060'].get_items(ajid, NS_BOOKMARKS, timeout=TIMEOUT),
                              'not-allowed', 'closed-node', "bob reading alice's bookmarks")
        r = await a['xep_0060'].get_node_config(None, NS_BOOKMARKS, timeout=TIMEOUT)
        form = r['pubsub_owner']['configure']['form']
        check_eq(form.get_fields()['pubsub#access_model']['value'], 'whitelist', 'bookmarks access model')

        # An avatar (XEP-0084).
        data = b'\x89PNG\r\n\x1a\n' + DEVICE.encode() * 50
        aid = a['xep_0084'].generate_id(data)
        await a['xep_0084'].publish_avatar(data, timeout=TIMEOUT)
        await a['xep_0084'].publish_avatar_metadata({'id': aid, 'type': 'image/png', 'bytes': len(data)}, timeout=TIMEOUT)
        r = await b['xep_0084'].retrieve_avatar(ajid, aid, timeout=TIMEOUT)
        check_eq(r['pubsub']['items']['item']['avatar_data']['value'], data, 'avatar data bob retrieved')

        # XEP-0048 bookmarks in private storage (xep_0048 with xep_0049)
        # are the XEP-0402 ones (urn:xmpp:bookmarks:1#compat): the room
        # stored above is there; adding one the old way publishes it.
        r = await a['xep_0048'].get_bookmarks(method='xep_0049', timeout=TIMEOUT)
        confs = {str(c['jid']): c for c in r['private']['bookmarks']['conferences']}
        check('room@conference.localhost' in confs and confs['room@conference.localhost']['name'] == 'Interop room',
              f'XEP-0048 view of the bookmarks: {r}')
        bm = Bookmarks()
        for c in confs.values():
            bm.add_conference(c['jid'], c['nick'], name=c['name'], autojoin=c['autojoin'], password=c['password'])
        bm.add_conference('council@conference.localhost', 'Puck', name='Council of Oberon', autojoin=True)
        await a['xep_0048'].set_bookmarks(bm, method='xep_0049', timeout=TIMEOUT)
        r = await a['xep_0060'].get_items(None, NS_BOOKMARKS, timeout=TIMEOUT)
        items = {i.get('id'): i for i in r.xml.iter('{http://jabber.org/protocol/pubsub}item')}
        check_eq(sorted(items), ['council@conference.localhost', 'room@conference.localhost'], 'XEP-0402 bookmark ids')
        nick = items['council@conference.localhost'].find('{%s}conference/{%s}nick' % (NS_BOOKMARKS, NS_BOOKMARKS))
        check(nick is not None and nick.text == 'Puck', f'the bookmark stored the XEP-0048 way: {r}')

        # Retraction with notify.
        b.messages.drain()
        await a['xep_0060'].retract(None, DEVICELIST, 'current', notify=True, timeout=TIMEOUT)

        def is_retract(m):
            items = event_items(m, DEVICELIST)
            return items is not None and items.find('{%s}retract[@id="current"]' % NS_EVENT) is not None
        await b.messages.expect(is_retract, 'the retraction event')

        # An explicit subscription (XEP-0060 §6.1) to a node bob's caps do
        # not ask for: the last item follows it, then each publication.
        mb = 'urn:xmpp:microblog:0'

        def entry(text):
            el = ET.Element('{http://www.w3.org/2005/Atom}entry')
            el.text = text
            return el

        def is_entry(item_id):
            def pred(m):
                items = event_items(m, mb)
                return items is not None and items.find('{%s}item[@id="%s"]' % (NS_EVENT, item_id)) is not None
            return pred
        await a['xep_0060'].publish(None, mb, id='first', payload=entry('one'), timeout=TIMEOUT)
        r = await b['xep_0060'].subscribe(ajid, mb, timeout=TIMEOUT)
        check_eq(r['pubsub']['subscription']['subscription'], 'subscribed', 'subscription state')
        await b.messages.expect(is_entry('first'), 'the last item after subscribing')
        r = await b['xep_0060'].get_subscriptions(ajid, timeout=TIMEOUT)
        nodes = [s.get('node') for s in r.xml.iter('{http://jabber.org/protocol/pubsub}subscription')]
        check_eq(nodes, [mb], "bob's subscriptions")
        await a['xep_0060'].publish(None, mb, id='second', payload=entry('two'), timeout=TIMEOUT)
        await b.messages.expect(is_entry('second'), 'the event through the subscription')
        await b['xep_0060'].unsubscribe(ajid, mb, timeout=TIMEOUT)
        await a['xep_0060'].publish(None, mb, id='third', payload=entry('three'), timeout=TIMEOUT)
        await b.messages.expect_none(is_entry('third'), 'an event after unsubscribing')
    finally:
        await a.stop()
        await b.stop()


if __name__ == '__main__':
    run_test('pep', test)
