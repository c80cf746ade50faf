// Package registries decides where a pull goes, from the configuration
// files people already have: containers-registries.conf(5) (prefixes,
// locations, mirrors, insecure and blocked registries) and the certs.d
// directories of containers and Docker (CA and client certificates).
//
// # Where the configuration comes from
//
// [Load] reads, in this order of precedence:
//
//  1. the file given with --registries-conf ([LoadOptions.Path]);
//  2. else the file named by $CONTAINERS_REGISTRIES_CONF;
//  3. else $HOME/.config/containers/registries.conf, if it exists,
//     followed by the drop-ins $HOME/.config/containers/registries.conf.d/*.conf;
//  4. else /etc/containers/registries.conf, if it exists, followed by the
//     drop-ins /etc/containers/registries.conf.d/*.conf and then those of
//     $HOME/.config/containers/registries.conf.d, each directory in lexical
//     order (as containers-registries.conf.d(5) says).
//
// An explicitly named file must exist and is read alone, without drop-ins,
// so that a build reproduces with exactly the file it names. A drop-in
// replaces any earlier [[registry]] table with the same prefix.
//
// # Routing a reference
//
// [Config.Route] picks the [[registry]] table whose prefix is the longest
// match for a reference (prefixes match whole path components:
// "example.com/foo" matches "example.com/foo/bar" but not
// "example.com/foobar"; "*.example.com" matches any subdomain of
// example.com) and returns the endpoints of the pull: the primary location
// and the mirrors, each with the reference rewritten to it. A location
// replaces only the matched registry host and repository path; the
// reference's own tag and digest are always kept, so a rewrite can never
// turn a digest pull into a tag pull.
//
// freshpull resolves a tag once and then fetches everything by digest, so
// the two questions a pull asks are answered separately:
// [Route.ResolveEndpoints] lists where a tag may be resolved (mirrors with
// pull-from-mirror "all" or "tag-only", then the primary) and
// [Route.FetchEndpoints] lists where content by digest may come from
// (mirrors with "all" or "digest-only", then the primary). Content is
// verified against its digest wherever it comes from, which is what makes a
// mirror safe for digest fetches even when its tags are stale.
//
// # Recommended build-farm setup: a digest-only pull-through cache
//
// Put a pull-through cache (for example the distribution registry with
// "proxy: remoteurl:") next to the builders and declare it a digest-only
// mirror of the upstream registry:
//
//	[[registry]]
//	prefix = "registry.example.com"
//	location = "registry.example.com"
//
//	[[registry.mirror]]
//	location = "cache.build.internal:5000"
//	pull-from-mirror = "digest-only"
//
// A pull of registry.example.com/app-base:1.4 under the "newer" policy then
// sends one HEAD for the tag to the upstream registry, the source of truth,
// so a moved tag is noticed at once; every manifest and layer is then
// fetched by digest from the nearby cache, and upstream is used for the
// bytes only when the cache fails. With pull-from-mirror = "all" the tag
// would be resolved at the cache instead, whose idea of the tag may lag
// behind upstream.
//
// # TLS
//
// [TLSConfig] builds the TLS client configuration for one registry host
// from the certs.d convention of containers-certs.d(5): *.crt files are
// extra certificate authorities, *.cert plus *.key files are client
// certificates.
package registries
