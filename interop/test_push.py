#!/usr/bin/python3
"""XEP-0357 push notifications, with slixmpp on both ends.

- alice (slixmpp ClientXMPP with XEP-0198) finds urn:xmpp:push:0 on her
  account's disco#info and enables push at push.localhost with a node and a
  publish-options form carrying a secret, as Conversations does;
- the app server is a slixmpp ComponentXMPP connected over XEP-0114;
- alice's connection is cut (her session hibernates); bob sends her a
  message; the component receives exactly one XEP-0357 publish from
  alice@localhost: the node, a urn:xmpp:push:summary form with a
  message-count, and the secret echoed in publish-options;
- alice resumes and disables push; the next message while she is cut again
  publishes nothing.
"""

import asyncio
import os
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from common import (HOST, DOMAIN, Client, alice, bob, check, check_eq, port, run_test)
from test_sm import cut, wait_event

NS_PUSH = 'urn:xmpp:push:0'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_DATA = 'jabber:x:data'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
APP = 'push.' + DOMAIN
NODE = 'interop-node-1'
SECRET = 'interop-secret-42'


class AppServer(slixmpp.ComponentXMPP):
    """Records every pubsub publish it receives and answers it with a result."""

    def __init__(self):
        super().__init__(APP, os.environ['XMPP_COMPONENT_SECRET'],
                         HOST, int(os.environ['XMPP_COMPONENT_PORT']))
        self.publishes = asyncio.Queue()
        self.register_handler(Callback(
            'publishes', MatchXPath('{jabber:component:accept}iq/{%s}pubsub' % NS_PUBSUB), self._publish))

    def _publish(self, iq):
        if iq['type'] != 'set':
            return
        self.publishes.put_nowait(iq)
        iq.reply().send()


def fields(form):
    return {f.get('var'): f.findtext('{%s}value' % NS_DATA) for f in form.findall('{%s}field' % NS_DATA)}


async def send_iq(client, payload):
    iq = client.make_iq_set()
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=10)


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()
    app = AppServer()
    app_started = wait_event(app, 'session_start')
    app.connect()
    await app_started

    a = Client(ajid, apw, plugins=('xep_0198', 'xep_0030'))
    b = Client(bjid, bpw)
    enabled = wait_event(a, 'sm_enabled')
    await a.start()
    await b.start()
    try:
        await enabled
        info = await a['xep_0030'].get_info(jid=ajid, timeout=10)
        check(NS_PUSH in info['disco_info']['features'],
              f"{NS_PUSH} not in alice's account disco#info: {info['disco_info']['features']}")
        await send_iq(a, f"<enable xmlns='{NS_PUSH}' jid='{APP}' node='{NODE}'>"
                         f"<x xmlns='{NS_DATA}' type='submit'>"
                         "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                         f"<field var='secret'><value>{SECRET}</value></field></x></enable>")
        a.send_presence()
        await a.roster_get()
        b.send_presence()
        await b.roster_get()

        sm_id = a.plugin['xep_0198'].sm_id
        disconnected = wait_event(a, 'disconnected')
        cut(a)
        await disconnected
        b.send_message(mto=ajid, mbody='wake up', mtype='chat')

        iq = await asyncio.wait_for(app.publishes.get(), 10)
        check_eq(iq['from'].full, ajid, "publish 'from'")
        pubsub = iq.xml.find('{%s}pubsub' % NS_PUBSUB)
        publish = pubsub.find('{%s}publish' % NS_PUBSUB)
        check_eq(publish.get('node'), NODE, 'publish node')
        note = publish.find('{%s}item/{%s}notification' % (NS_PUBSUB, NS_PUSH))
        check(note is not None, f'no <notification/>: {iq}')
        summary = fields(note.find('{%s}x' % NS_DATA))
        check_eq(summary.get('FORM_TYPE'), 'urn:xmpp:push:summary', 'summary FORM_TYPE')
        check_eq(summary.get('message-count'), '1', 'message-count')
        check(summary.get('last-message-sender') is None, f'the sender leaked by default: {summary}')
        opts = fields(pubsub.find('{%s}publish-options/{%s}x' % (NS_PUBSUB, NS_DATA)))
        check_eq(opts.get('secret'), SECRET, 'secret echoed in publish-options')
        await asyncio.sleep(0.5)
        check(app.publishes.empty(), 'more than one publish for one message')

        # Resume, disable, go away again: nothing is published.
        resumed = wait_event(a, 'session_resumed')
        a.connect((HOST, port()), use_ssl=False, force_starttls=True)
        ev = await resumed
        check_eq(ev['previd'], sm_id, 'previd of <resumed/>')
        await a.messages.expect(lambda m: m['body'] == 'wake up', 'the message after resumption')
        await send_iq(a, f"<disable xmlns='{NS_PUSH}' jid='{APP}'/>")
        disconnected = wait_event(a, 'disconnected')
        cut(a)
        await disconnected
        b.send_message(mto=ajid, mbody='after disable', mtype='chat')
        await b.roster_get()
        await asyncio.sleep(1.5)
        check(app.publishes.empty(), 'a publish after <disable/>')
        resumed = wait_event(a, 'session_resumed')
        a.connect((HOST, port()), use_ssl=False, force_starttls=True)
        await resumed
    finally:
        await a.stop()
        await b.stop()
        app.disconnect()


if __name__ == '__main__':
    run_test('test_push', test)
