"""Shared helpers for the Dormouse interoperability tests.

The tests drive the server with slixmpp (Debian's python3-slixmpp 1.8.3), an
XMPP client library written independently of Dormouse. Each test_*.py is a
standalone script started by run.sh, which passes the server's address and
the test accounts through environment variables:

    XMPP_HOST       address of the server's listeners (127.0.0.1)
    XMPP_PORT       STARTTLS client port ([c2s] listen)
    XMPP_TLS_PORT   direct TLS client port ([c2s] tls_listen, XEP-0368)
    XMPP_DOMAIN     the served domain (localhost)
    ALICE_PASSWORD  password of alice@XMPP_DOMAIN
    BOB_PASSWORD    password of bob@XMPP_DOMAIN
    XMPP_COMPONENT_PORT    the XEP-0114 component port ([components] listen)
    XMPP_COMPONENT_SECRET  the secret of the component push.XMPP_DOMAIN
    INTEROP_DEBUG   if set to 1, log every stanza sent and received

A test reports failure by raising TestFailure (or letting any exception
escape); run_test() prints the message and exits with status 1.
"""

import asyncio
import logging
import os
import ssl
import sys
import traceback

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = 'jabber:client'
NS_STREAMS = 'http://etherx.jabber.org/streams'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
NS_RECEIPTS = 'urn:xmpp:receipts'
NS_DELAY = 'urn:xmpp:delay'
NS_PING = 'urn:xmpp:ping'

# The SASL mechanisms the tests allow. PLAIN is never in this list, so a
# successful login proves a SCRAM exchange happened.
SCRAM_MECHS = ('SCRAM-SHA-256', 'SCRAM-SHA-1')

# Default time to wait for any one expected event.
TIMEOUT = 10


def env(name):
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f'FAIL: environment variable {name} is not set (run the tests with interop/run.sh)')
    return value


HOST = os.environ.get('XMPP_HOST', '127.0.0.1')
DOMAIN = os.environ.get('XMPP_DOMAIN', 'localhost')


def port():
    return int(env('XMPP_PORT'))


def tls_port():
    return int(env('XMPP_TLS_PORT'))


def alice():
    """Return alice's bare JID and password."""
    return f'alice@{DOMAIN}', env('ALICE_PASSWORD')


def bob():
    """Return bob's bare JID and password."""
    return f'bob@{DOMAIN}', env('BOB_PASSWORD')


class TestFailure(Exception):
    """An assertion about the server's behaviour did not hold."""


def check(cond, message):
    """Raise TestFailure(message) unless cond is true."""
    if not cond:
        raise TestFailure(message)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f'{what}: got {got!r}, want {want!r}')


class Inbox:
    """Collects received stanzas so that a test can wait for one that
    matches a predicate, whether it arrived before or after the wait began."""

    def __init__(self, kind):
        self.kind = kind
        self.items = []
        self._changed = asyncio.Event()

    def put(self, st):
        self.items.append(st)
        self._changed.set()

    async def expect(self, pred, what, timeout=TIMEOUT):
        """Remove and return the first stanza for which pred is true; fail
        after timeout seconds naming what was expected and what came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, st in enumerate(self.items):
                if pred(st):
                    del self.items[i]
                    return st
            remaining = deadline - loop.time()
            if remaining <= 0:
                got = '\n    '.join(str(s) for s in self.items) or '(nothing)'
                raise TestFailure(
                    f'timed out after {timeout}s waiting for {what}; '
                    f'unconsumed {self.kind} stanzas received:\n    {got}')
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def expect_none(self, pred, what, wait=1.0):
        """Fail if a stanza matching pred arrives within wait seconds."""
        await asyncio.sleep(wait)
        for st in self.items:
            if pred(st):
                raise TestFailure(f'unexpected {what}: {st}')

    def drain(self):
        self.items.clear()


class Client(slixmpp.ClientXMPP):
    """A slixmpp client restricted to SCRAM that records what it receives.

    - self.messages / self.presences / self.roster_pushes: Inbox of every
      <message/>, <presence/>, and roster push (<iq type='set'><query
      xmlns='jabber:iq:roster'/>) received, as slixmpp stanza objects.
    - self.features_xml / self.stream_features: the <stream:features/> of
      each stream (before TLS, after TLS, after SASL), serialized / as
      ElementTree elements.
    """

    def __init__(self, jid, password, mechs=SCRAM_MECHS, plugins=()):
        super().__init__(jid, password)
        # Only SCRAM: PLAIN must never be used, even over TLS.
        fm = self['feature_mechanisms']
        fm.use_mechs = set(mechs)
        fm.encrypted_plain = False
        fm.unencrypted_plain = False

        # The server's certificate is self-signed: do not verify it. Order
        # matters: check_hostname must be disabled before CERT_NONE.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE

        # Subscriptions are answered explicitly by the tests.
        self.auto_authorize = None
        self.auto_subscribe = False

        for p in plugins:
            self.register_plugin(p)

        self.messages = Inbox('message')
        self.presences = Inbox('presence')
        self.roster_pushes = Inbox('roster push')
        self.features_xml = []
        self.stream_features = []  # the same, as ElementTree elements
        self.auth_failures = []
        self.stream_errors = []
        self._session = None

        # Raw handlers: every matching handler runs, so these see every
        # stanza regardless of slixmpp's own processing.
        self.register_handler(Callback(
            'interop messages', MatchXPath('{%s}message' % NS_CLIENT), self.messages.put))
        self.register_handler(Callback(
            'interop presences', MatchXPath('{%s}presence' % NS_CLIENT), self.presences.put))
        self.register_handler(Callback(
            'interop features', MatchXPath('{%s}features' % NS_STREAMS),
            self._on_features))
        self.add_event_handler('roster_update', self._on_roster_update)
        self.add_event_handler('session_start', self._on_session_start)
        self.add_event_handler('failed_auth', self._on_failed_auth)
        self.add_event_handler('failed_all_auth', lambda _: self._fail_session('all SASL mechanisms failed'))
        self.add_event_handler('no_auth', lambda _: self._fail_session('no acceptable SASL mechanism offered'))
        self.add_event_handler('stream_error', self._on_stream_error)
        self.add_event_handler('disconnected', lambda _: self._fail_session('disconnected before session start'))
        self.add_event_handler('connection_failed', self._on_connection_failed)

    # slixmpp resolves the JID's domain even when an address is given;
    # answer with the test address so nothing depends on DNS or ::1.
    async def get_dns_records(self, domain, port=None):
        return [(DOMAIN, self.address[0], self.address[1])]

    def _on_features(self, f):
        self.stream_features.append(f.xml)
        self.features_xml.append(str(f))

    def _on_roster_update(self, iq):
        if iq['type'] == 'set':
            self.roster_pushes.put(iq)

    def _on_session_start(self, _):
        if self._session and not self._session.done():
            self._session.set_result(True)

    def _on_failed_auth(self, failure):
        self.auth_failures.append(failure)

    def _on_connection_failed(self, err):
        # slixmpp would retry forever; a test must fail instead.
        self.cancel_connection_attempt()
        self._fail_session(f'cannot connect to {self.address}: {err}')

    def _on_stream_error(self, err):
        self.stream_errors.append(err)
        self._fail_session(f'stream error: {err}')

    def _fail_session(self, why):
        if self._session and not self._session.done():
            detail = ''
            if self.auth_failures:
                detail = ' (SASL failures: ' + '; '.join(str(f) for f in self.auth_failures) + ')'
            self._session.set_exception(TestFailure(f'{self.boundjid.bare}: {why}{detail}'))

    async def start(self, direct_tls=False, timeout=TIMEOUT):
        """Connect, negotiate TLS and SCRAM, bind, and wait for session start.

        direct_tls connects to the XEP-0368 port with TLS from the first
        byte; otherwise to the STARTTLS port."""
        self._session = asyncio.get_running_loop().create_future()
        if direct_tls:
            self.connect((HOST, tls_port()), use_ssl=True)
        else:
            self.connect((HOST, port()), use_ssl=False, force_starttls=True)
        try:
            await asyncio.wait_for(self._session, timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise TestFailure(f'{self.requested_jid}: no session within {timeout}s '
                              f'(features seen: {self.features_xml})')
        self.check_secure_scram(direct_tls)
        return self

    def check_secure_scram(self, direct_tls):
        """Assert the session is on TLS and authenticated with SCRAM."""
        mech = self['feature_mechanisms'].mech
        check(mech is not None and mech.name in SCRAM_MECHS,
              f'SASL mechanism used was {mech and mech.name!r}, want one of {SCRAM_MECHS}')
        check(isinstance(self.socket, ssl.SSLObject),
              f'stream is not encrypted (socket {self.socket!r})')
        if direct_tls:
            check('starttls' not in self.features,
                  'STARTTLS was negotiated on the direct TLS port')
        else:
            check('starttls' in self.features,
                  'STARTTLS was not negotiated on the STARTTLS port '
                  f'(features seen: {self.features_xml})')

    async def stop(self, timeout=5):
        """Close the stream and wait until the connection is closed."""
        self._session = None
        if self.transport is None:
            return
        try:
            await asyncio.wait_for(self.disconnect(wait=2.0), timeout)
        except asyncio.TimeoutError:
            self.abort()

    async def roster_get(self, ver=None):
        """Send a roster get (with ver if given) and return the result iq."""
        iq = self.Iq()
        iq['type'] = 'get'
        iq.enable('roster')
        if ver is not None:
            iq['roster']['ver'] = ver
        return await iq.send(timeout=TIMEOUT)

    async def roster_set(self, jid, name=None, groups=(), remove=False):
        """Send a roster set for one item and return the result iq."""
        item = {'groups': list(groups)}
        if name is not None:
            item['name'] = name
        if remove:
            item = {'subscription': 'remove'}
        iq = self.Iq()
        iq['type'] = 'set'
        iq['roster']['items'] = {jid: item}
        return await iq.send(timeout=TIMEOUT)


NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'


def offered_mechanisms(features):
    """The SASL mechanism names in a <stream:features/> element."""
    return [m.text for m in features.findall('{%s}mechanisms/{%s}mechanism' % (NS_SASL, NS_SASL))]


def roster_items(iq):
    """The items of a roster iq, keyed by bare JID string."""
    return {str(j): v for j, v in iq['roster']['items'].items()}


def is_presence(frm, ptype=None, full=False):
    """Predicate: a presence from frm (bare JID unless full) of type ptype
    ('available' for none)."""
    def pred(p):
        src = str(p['from']) if full else p['from'].bare
        return src == str(frm) and (ptype is None or p['type'] == ptype)
    return pred


def error_condition(st):
    """The defined condition of a stanza error, from the raw XML."""
    err = st.xml.find('{%s}error' % NS_CLIENT)
    if err is None:
        return None
    for child in err:
        if child.tag.startswith('{%s}' % NS_STANZAS) and not child.tag.endswith('}text'):
            return child.tag.split('}', 1)[1]
    return None


def run_test(name, coro_fn):
    """Run the async test, print PASS/FAIL and exit accordingly."""
    if os.environ.get('INTEROP_DEBUG') == '1':
        logging.basicConfig(level=logging.DEBUG, format='%(asctime)s %(name)s %(message)s')
    else:
        logging.basicConfig(level=logging.CRITICAL)

    async def main():
        return await coro_fn()

    try:
        asyncio.run(asyncio.wait_for(main(), 50))
    except TestFailure as e:
        print(f'FAIL {name}: {e}', file=sys.stderr)
        sys.exit(1)
    except asyncio.TimeoutError:
        traceback.print_exc()
        print(f'FAIL {name}: the test as a whole timed out after 50s', file=sys.stderr)
        sys.exit(1)
    except BaseException as e:  # IqError, IqTimeout, bugs in the test
        if isinstance(e, SystemExit):
            raise
        traceback.print_exc()
        print(f'FAIL {name}: {type(e).__name__}: {describe(e)}', file=sys.stderr)
        sys.exit(1)
    print(f'PASS {name}')


def describe(e):
    """Readable text for slixmpp's IqError/IqTimeout."""
    iq = getattr(e, 'iq', None)
    if iq is not None:
        return f'{e} -- iq: {iq}'
    return str(e)
