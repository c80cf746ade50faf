// Package store is freshpull's local image store: an OCI image layout
// directory (oci-layout, index.json, blobs/<alg>/<hex>) that skopeo, umoci
// and podman can read as oci:DIR:REF, and that many freshpull processes may
// share at once.
//
// The rules that make it safe to share:
//
//   - A blob becomes visible only complete and verified: it is written to a
//     temp file in the store, hashed while it streams, checked against its
//     descriptor (digest and size), fsynced, and renamed into place.
//   - One download per digest, even across processes: a per-digest file
//     lock makes a second writer wait and then reuse the first one's blob.
//   - index.json is changed by read-modify-write under an exclusive file
//     lock and replaced atomically, so concurrent writers never lose each
//     other's entries. Entries are written last, after every blob they
//     reach.
//   - Pulls hold the store's shared lock for their whole run; garbage
//     collection takes it exclusively, so it never deletes a blob that a
//     pull in flight still needs.
//
// Bookkeeping (locks, temp files) lives in the ".freshpull" directory inside
// the layout, which OCI tools ignore.
package store
