#!/usr/bin/python3
"""The built-in push app server (XEP-0357 app server at appserver.localhost,
relaying to FCM), driven by slixmpp:

- an operator adds an FCM app with `dormouse push app add` while the server
  runs; its service account's token_uri points at an FCM stand-in (an
  OAuth2 token endpoint and messages:send, in this script) that the server
  reaches through push.fcm_endpoint;
- slixmpp lists the app server's XEP-0050 commands and registers a device
  with Conversations' register-push-fcm (fields token, android-id): the
  completed command's form has jid, node and secret; registering again
  returns the same node and secret;
- the whole chain with Dormouse's XEP-0357 server side: alice enables push with that node and secret, her connection is cut (the
  session hibernates), bob sends her a message, and the FCM stand-in
  receives exactly one request, for her token, with priority high;
- unregister-push-fcm removes the device; a second one gets item-not-found.
"""

import asyncio
import json
import os
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from slixmpp.exceptions import IqError

from common import Client, TestFailure, alice, bob, check, check_eq, run_test
from test_sm import cut, wait_event

APP = 'appserver.localhost'
NS_COMMANDS = 'http://jabber.org/protocol/commands'
NS_PUSH = 'urn:xmpp:push:0'
NS_DATA = 'jabber:x:data'
TOKEN = 'fcm-token-interop'


class FakeFCM(ThreadingHTTPServer):
    """FCM HTTP v1 with its OAuth2 token endpoint; records sends."""

    def __init__(self, port):
        self.sends = []
        self.lock = threading.Lock()
        super().__init__(('127.0.0.1', port), Handler)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.path == '/token':
            if b'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer' not in body:
                return self.reply(400, {'error': 'unsupported_grant_type'})
            return self.reply(200, {'access_token': 'ya29.interop', 'token_type': 'Bearer', 'expires_in': 3600})
        if self.path.endswith('/messages:send'):
            if self.headers.get('Authorization') != 'Bearer ya29.interop':
                return self.reply(401, {'error': {'code': 401, 'status': 'UNAUTHENTICATED', 'message': 'x'}})
            with self.server.lock:
                self.server.sends.append(json.loads(body)['message'])
            return self.reply(200, {'name': 'projects/interop-project/messages/1'})
        self.reply(404, {})


def add_fcm_app(name, port):
    """Store an FCM app whose service account authenticates at the stand-in."""
    with tempfile.TemporaryDirectory() as d:
        key = subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
                             check=True, capture_output=True, text=True).stdout
        sa = os.path.join(d, 'sa.json')
        with open(sa, 'w') as f:
            json.dump({'type': 'service_account', 'project_id': 'interop-project', 'private_key_id': 'k1',
                       'private_key': key, 'client_email': 'interop@interop-project.iam.gserviceaccount.com',
                       'client_id': '1', 'token_uri': f'http://127.0.0.1:{port}/token'}, f)
        out = subprocess.run([os.environ['INTEROP_BIN'], 'push', 'app', 'add', name, '-platform', 'fcm',
                              '-credentials', sa, '-config', os.environ['INTEROP_CONF']],
                             capture_output=True, text=True)
        check(out.returncode == 0, f'push app add: {out.stdout}{out.stderr}')


async def command(c, node, fields):
    iq = c.Iq()
    iq['type'] = 'set'
    iq['to'] = APP
    iq['command']['node'] = node
    iq['command']['action'] = 'execute'
    form = c['xep_0004'].make_form(ftype='submit')
    for var, value in fields.items():
        form.add_field(var=var, value=value)
    iq['command'].append(form)
    return await iq.send(timeout=10)


async def register(c, token, device):
    res = await command(c, 'register-push-fcm', {'token': token, 'android-id': device})
    check_eq(res['command']['status'], 'completed', 'command status')
    values = res['command']['form'].get_values()
    check_eq(values.get('jid'), APP, 'jid in the result form')
    check(values.get('node'), f'no node in {res}')
    check(len(values.get('secret') or '') >= 16, f'short or missing secret in {res}')
    return values['node'], values['secret']


async def whole_chain(a, b, ajid, node, secret, fcm):
    """Enable push at the app server, hibernate, get a message: one FCM request."""
    iq = a.make_iq_set()
    iq.append(ET.fromstring(
        f"<enable xmlns='{NS_PUSH}' jid='{APP}' node='{node}'><x xmlns='{NS_DATA}' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
        f"<field var='secret'><value>{secret}</value></field></x></enable>"))
    await iq.send(timeout=10)
    a.send_presence()
    await a.roster_get()
    b.send_presence()
    await b.roster_get()
    disconnected = wait_event(a, 'disconnected')
    cut(a)
    await disconnected
    b.send_message(mto=ajid, mbody='wake up', mtype='chat')
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not fcm.sends:
        if loop.time() > deadline:
            raise TestFailure('no FCM request within 10 s of the message')
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    with fcm.lock:
        sends = list(fcm.sends)
    check_eq(len(sends), 1, 'FCM requests for one message')
    check_eq(sends[0].get('token'), TOKEN, 'FCM token')
    check_eq(sends[0].get('android', {}).get('priority'), 'high', 'FCM priority')


async def test():
    fcm = FakeFCM(int(os.environ['FCM_PORT']))
    threading.Thread(target=fcm.serve_forever, daemon=True).start()
    try:
        add_fcm_app('interop-fcm', int(os.environ['FCM_PORT']))
        ajid, apw = alice()
        bjid, bpw = bob()
        a = Client(ajid, apw, plugins=('xep_0030', 'xep_0004', 'xep_0050', 'xep_0198'))
        b = Client(bjid, bpw)
        enabled = wait_event(a, 'sm_enabled')
        await a.start()
        await b.start()
        try:
            await enabled
            items = await a['xep_0030'].get_items(jid=APP, node=NS_COMMANDS, timeout=10)
            nodes = {i[1] for i in items['disco_items']['items']}
            for n in ('register-push-fcm', 'register-push-apns', 'unregister-push-fcm', 'v1-register-push'):
                check(n in nodes, f'command {n} not listed: {nodes}')

            # The server picks up the app within seconds of `push app add`.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while True:
                try:
                    node, secret = await register(a, 'old-token', 'android-interop')
                    break
                except IqError as e:
                    if loop.time() > deadline:
                        raise TestFailure(f'registration still refused: {e.iq}')
                    await asyncio.sleep(0.5)
            node2, secret2 = await register(a, TOKEN, 'android-interop')
            check_eq((node2, secret2), (node, secret), 'node and secret after re-registration')

            info = await a['xep_0030'].get_info(jid=ajid, timeout=10)
            check(NS_PUSH in info['disco_info']['features'], f'{NS_PUSH} not offered on the account')
            await whole_chain(a, b, ajid, node, secret, fcm)
            resumed = wait_event(a, 'session_resumed')
            a.connect((os.environ['XMPP_HOST'], int(os.environ['XMPP_PORT'])), use_ssl=False, force_starttls=True)
            await resumed

            res = await command(a, 'unregister-push-fcm', {'android-id': 'android-interop'})
            check_eq(res['command']['status'], 'completed', 'unregister status')
            try:
                await command(a, 'unregister-push-fcm', {'android-id': 'android-interop'})
                raise TestFailure('second unregistration succeeded')
            except IqError as e:
                check_eq(e.iq['error']['condition'], 'item-not-found', 'second unregistration error')
        finally:
            await a.stop()
            await b.stop()
    finally:
        fcm.shutdown()


if __name__ == '__main__':
    run_test('test_push_appserver', test)
