#!/usr/bin/python3
"""Push app server (XEP-0357 app server built into Dormouse at push.localhost):
an operator adds an FCM app with the CLI while the server runs, and slixmpp
registers a device with Conversations' ad-hoc command register-push-fcm
(XEP-0050, XEP-0004 form): the result form carries jid, node and secret;
registering the same device again returns the same node and secret; the
commands are listed in disco#items; unregister-push-fcm removes it.
"""

import asyncio
import json
import os
import subprocess
import tempfile

from slixmpp.exceptions import IqError

from common import Client, TestFailure, alice, check, check_eq, run_test

PUSH = 'push.localhost'
NS_COMMANDS = 'http://jabber.org/protocol/commands'


def add_fcm_app(name):
    """Store an FCM app with a fresh (unused) service account."""
    with tempfile.TemporaryDirectory() as d:
        key = subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
                             check=True, capture_output=True, text=True).stdout
        sa = os.path.join(d, 'sa.json')
        with open(sa, 'w') as f:
            json.dump({'type': 'service_account', 'project_id': 'interop-project', 'private_key_id': 'k1',
                       'private_key': key, 'client_email': 'interop@interop-project.iam.gserviceaccount.com',
                       'client_id': '1', 'token_uri': 'https://oauth2.googleapis.com/token'}, f)
        out = subprocess.run([os.environ['INTEROP_BIN'], 'push', 'app', 'add', name, '-platform', 'fcm',
                              '-credentials', sa, '-config', os.environ['INTEROP_CONF']],
                             capture_output=True, text=True)
        check(out.returncode == 0, f'push app add: {out.stdout}{out.stderr}')


async def command(c, node, fields):
    iq = c.Iq()
    iq['type'] = 'set'
    iq['to'] = PUSH
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
    check_eq(values.get('jid'), PUSH, 'jid in the result form')
    check(values.get('node'), f'no node in {res}')
    check(len(values.get('secret') or '') >= 16, f'short or missing secret in {res}')
    return values['node'], values['secret']


async def test():
    add_fcm_app('interop-fcm')
    ajid, apw = alice()
    c = Client(ajid + '/phone', apw, plugins=('xep_0030', 'xep_0004', 'xep_0050'))
    await c.start()
    try:
        items = await c['xep_0030'].get_items(jid=PUSH, node=NS_COMMANDS, timeout=10)
        nodes = {i[1] for i in items['disco_items']['items']}
        for n in ('register-push-fcm', 'register-push-apns', 'unregister-push-fcm', 'v1-register-push'):
            check(n in nodes, f'command {n} not listed: {nodes}')

        # The server picks up the app within seconds of `push app add`.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            try:
                node, secret = await register(c, 'fcm-token-interop-1', 'android-interop')
                break
            except IqError as e:
                if loop.time() > deadline:
                    raise TestFailure(f'registration still refused: {e.iq}')
                await asyncio.sleep(0.5)

        node2, secret2 = await register(c, 'fcm-token-interop-2', 'android-interop')
        check_eq((node2, secret2), (node, secret), 'node and secret after re-registration')

        res = await command(c, 'unregister-push-fcm', {'android-id': 'android-interop'})
        check_eq(res['command']['status'], 'completed', 'unregister status')
        try:
            await command(c, 'unregister-push-fcm', {'android-id': 'android-interop'})
            raise TestFailure('second unregistration succeeded')
        except IqError as e:
            check_eq(e.iq['error']['condition'], 'item-not-found', 'second unregistration error')
    finally:
        await c.stop()


if __name__ == '__main__':
    run_test('test_push_appserver', test)
