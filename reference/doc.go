// Package reference parses and builds container image references.
//
// Parsing follows Docker's grammar and normalisation
// (github.com/distribution/reference): "ubuntu" is
// "docker.io/library/ubuntu", "index.docker.io" is "docker.io", a host with a
// port keeps it, and "name:tag@digest" keeps both parts, the digest being
// what gets pulled.
//
// Building a reference from parts goes through one function, [Join], so that
// a digest is always joined with "@" and never with ":" — the
// "image:sha256:…" bug that leads builds to stale or wrong images.
package reference
