#!/usr/bin/python3
"""Login: STARTTLS + SCRAM-SHA-1, STARTTLS + SCRAM-SHA-256, direct TLS
(XEP-0368), and a wrong password (RFC 6120 §6.5.10 not-authorized).

The accounts were created with `dormouse user add` while the server was
running, so a successful login also shows the CLI writes to the live store.
"""

from common import (NS_SASL, NS_TLS, Client, TestFailure, alice, bob, check,
                    check_eq, offered_mechanisms, run_test)


async def login(jid, password, mechs, direct_tls=False):
    """Log in with exactly the given mechanisms and check the session."""
    c = Client(jid, password, mechs=mechs)
    await c.start(direct_tls=direct_tls)
    try:
        check_eq(c.boundjid.bare, jid, 'bound bare JID')
        check(c.boundjid.resource != '', f'no resource bound: {c.boundjid}')
        used = c['feature_mechanisms'].mech.name
        check(used in mechs, f'slixmpp authenticated with {used}, want one of {mechs}')
        return c, used
    except BaseException:
        await c.stop()
        raise


async def test():
    ajid, apw = alice()
    bjid, bpw = bob()

    # 1. STARTTLS, SCRAM-SHA-1 only.
    c, used = await login(ajid, apw, ('SCRAM-SHA-1',))
    check_eq(used, 'SCRAM-SHA-1', 'mechanism')
    # First features (plaintext): STARTTLS, required because require_tls is
    # true, and no SASL before TLS (RFC 6120 §5.3.1, §6.4.1).
    pre = c.stream_features[0]
    starttls = pre.find('{%s}starttls' % NS_TLS)
    check(starttls is not None, f'no <starttls/> in the first stream features: {c.features_xml[0]}')
    check(starttls.find('{%s}required' % NS_TLS) is not None,
          f'<starttls/> not marked <required/> although require_tls=true: {c.features_xml[0]}')
    check(offered_mechanisms(pre) == [],
          f'SASL mechanisms offered before TLS although require_tls=true: {c.features_xml[0]}')
    # Second features (after TLS): both SCRAM variants.
    mechs = offered_mechanisms(c.stream_features[1])
    for m in ('SCRAM-SHA-1', 'SCRAM-SHA-256'):
        check(m in mechs, f'{m} not offered after TLS: {c.features_xml[1]}')
    await c.stop()

    # 2. STARTTLS, SCRAM-SHA-256 only (bob, to exercise a second account).
    c, used = await login(bjid, bpw, ('SCRAM-SHA-256',))
    check_eq(used, 'SCRAM-SHA-256', 'mechanism')
    await c.stop()

    # 3. Direct TLS (XEP-0368): TLS from the first byte, no STARTTLS offered.
    c, used = await login(ajid, apw, ('SCRAM-SHA-256', 'SCRAM-SHA-1'), direct_tls=True)
    first = c.stream_features[0]
    check(first.find('{%s}starttls' % NS_TLS) is None,
          f'STARTTLS offered on the direct TLS port: {c.features_xml[0]}')
    check('SCRAM-SHA-256' in offered_mechanisms(first),
          f'SCRAM-SHA-256 not offered in the first features on the direct TLS port: {c.features_xml[0]}')
    await c.stop()

    # 4. Wrong password: the SCRAM exchange must end in
    #    <failure><not-authorized/></failure> and no session.
    c = Client(ajid, apw + '-wrong', mechs=('SCRAM-SHA-256',))
    try:
        await c.start()
    except TestFailure:
        pass
    else:
        await c.stop()
        raise TestFailure('login with a wrong password succeeded')
    finally:
        c.abort()
    check(len(c.auth_failures) == 1,
          f'want exactly one SASL <failure/>, got {[str(f) for f in c.auth_failures]}')
    f = c.auth_failures[0]
    check(f.xml.tag == '{%s}failure' % NS_SASL, f'unexpected SASL answer: {f}')
    check_eq(f['condition'], 'not-authorized', f'SASL failure condition in {f}')


if __name__ == '__main__':
    run_test('test_login', test)
