// Package providertest runs loopback stand-ins for the push providers, for
// tests and benchmarks: FCM speaks the HTTP v1 API (projects.messages.send)
// behind a Google OAuth2 token endpoint that checks the service account's
// signed JWT assertion; APNs speaks the HTTP/2 provider API over TLS and
// checks the provider JWT (ES256) or the client certificate. Both record
// every request and answer as the test tells them to.
package providertest
