#!/usr/bin/python3
"""Federation with Prosody: a slixmpp user on Dormouse and a slixmpp user
on Prosody, two servers joined by server-to-server streams over TLS with
certificates from a private CA (started by interop/s2s.sh).

- alice@INTEROP_DORMOUSE_DOMAIN -> bob@INTEROP_PROSODY_DOMAIN chat message, and the reply;
- a presence subscription alice -> bob, approved: alice gets 'subscribed'
  and bob's presence (RFC 6121 §3.1);
- XEP-0199 pings to the other server, both ways (IQ round trips).

Environment: XMPP_HOST, INTEROP_DORMOUSE_DOMAIN, INTEROP_DORMOUSE_C2S_PORT, INTEROP_PROSODY_DOMAIN,
INTEROP_PROSODY_C2S_PORT, ALICE_PASSWORD, BOB_PASSWORD.
"""

import asyncio

from common import HOST, TIMEOUT, Client, TestFailure, check, check_eq, env, is_presence, run_test


class FedClient(Client):
    async def start_at(self, port):
        self._session = asyncio.get_running_loop().create_future()
        self.connect((HOST, port), use_ssl=False, force_starttls=True)
        try:
            await asyncio.wait_for(self._session, TIMEOUT)
        except asyncio.TimeoutError:
            self.abort()
            raise TestFailure(f'{self.requested_jid}: no session within {TIMEOUT}s')
        return self


async def test():
    ddom, pdom = env('INTEROP_DORMOUSE_DOMAIN'), env('INTEROP_PROSODY_DOMAIN')
    ajid, bjid = f'alice@{ddom}', f'bob@{pdom}'
    a = FedClient(ajid, env('ALICE_PASSWORD'), plugins=('xep_0199',))
    b = FedClient(bjid, env('BOB_PASSWORD'), plugins=('xep_0199',))
    await a.start_at(int(env('INTEROP_DORMOUSE_C2S_PORT')))
    await b.start_at(int(env('INTEROP_PROSODY_C2S_PORT')))
    try:
        a.send_presence()
        b.send_presence()
        await a.roster_get()
        await b.roster_get()

        # Messages both ways.
        m = a.make_message(mto=bjid, mbody='Hello from Dormouse', mtype='chat')
        m['id'] = 's2s-1'
        m.send()
        got = await b.messages.expect(lambda x: x['id'] == 's2s-1', 'alice\'s message at bob (Prosody)', timeout=20)
        check_eq(str(got['from']), str(a.boundjid), "'from' of s2s-1")
        check_eq(got['body'], 'Hello from Dormouse', 'body of s2s-1')

        m = b.make_message(mto=a.boundjid, mbody='Hello from Prosody', mtype='chat')
        m['id'] = 's2s-2'
        m.send()
        got = await a.messages.expect(lambda x: x['id'] == 's2s-2', 'bob\'s reply at alice (Dormouse)', timeout=20)
        check_eq(str(got['from']), str(b.boundjid), "'from' of s2s-2")
        check_eq(got['body'], 'Hello from Prosody', 'body of s2s-2')

        # A presence subscription across the servers.
        a.send_presence(pto=bjid, ptype='subscribe')
        await b.presences.expect(is_presence(ajid, 'subscribe'), 'the subscription request at bob')
        b.send_presence(pto=ajid, ptype='subscribed')
        await a.presences.expect(is_presence(bjid, 'subscribed'), "bob's approval at alice")
        await a.presences.expect(lambda p: p['from'].bare == bjid and p['type'] == 'available',
                                 "bob's presence at alice after the approval")

        # IQ round trips to the other server.
        r = await a['xep_0199'].send_ping(pdom, timeout=TIMEOUT)
        check(r is not None, 'no answer to the ping of the Prosody server')
        r = await b['xep_0199'].send_ping(ddom, timeout=TIMEOUT)
        check(r is not None, 'no answer to the ping of the Dormouse server')
    finally:
        await a.stop()
        await b.stop()


if __name__ == '__main__':
    run_test('s2s_prosody', test)
