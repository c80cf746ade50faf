// Package testauth provides the credentials, certificates and token issuer
// that freshpull's tests need to run the real distribution registry the way
// real users meet it: over TLS with a private certificate authority, with
// htpasswd (Basic) authentication, and with token authentication (the
// registry's "auth: token:" mode, with a small token issuer of our own).
//
// Everything is generated per test in temporary directories and cleaned up
// with the test. The helpers that return localregistry.Config snippets
// combine with [Merge] and start with testregistry.StartWithConfig.
//
// Test secrets (passwords, private keys, tokens) are never logged, printed
// or put in failure messages by this package.
package testauth
