// Package extract writes an image's layers into a directory: the whole
// flattened root filesystem, as a container would see it, or chosen paths
// of it, as OpenShift image sources copy them into a build context. It
// never creates, changes or follows anything outside the destination,
// whatever the layers contain.
//
// # Use
//
//	res, err := extract.Extract(ctx, layers, "/build/ctx", extract.Options{
//		Paths: []extract.PathSpec{{Src: "/app/*.jar", DestDir: "libs"}},
//	})
//
// Layers come base first; ImageLayers adapts a go-containerregistry image.
// Extract reads each layer once in the common case, and again only for the
// data it could not write while streaming: a hard link whose target a
// later layer replaced (or that a PathSpec did not select), or a PathSpec
// found only by following a symlink. Layer.Open must therefore return the
// same bytes each time it is called.
//
// # The flattened view
//
// Layers apply in order with OCI whiteouts: ".wh.NAME" removes NAME of
// lower layers, ".wh..wh..opq" hides a directory's lower-layer contents,
// and neither touches entries of its own layer (OCI image spec). A later
// entry replaces an earlier one at the same path, except that two
// directories merge, the later one's attributes winning. Directories that
// only appear as parents are made with mode 0755.
//
// Regular files, directories, symlinks (stored as they are, never
// followed), hard links, FIFOs and device nodes are written with their
// permission bits including setuid, setgid and sticky, their modification
// and access times (directories' once their contents are complete) and
// their extended attributes where the file system takes them. Names of one
// file in the image are hard links to one file in the destination, also
// across PathSpecs. As root (and not Options.Rootless), owners come from
// the image and device nodes are made; otherwise files belong to the
// caller without complaint, a file's setuid (setgid) bit is dropped unless
// the image's owner (group) is the caller's, as GNU tar does, device nodes
// are skipped with a warning, and only user.* extended attributes are set. FIFOs need no privilege and are
// always made. The root directory's own entry is ignored: DEST's mode and
// owner are the caller's.
//
// # PathSpecs
//
// Src is a path in the flattened view; DestDir is relative to DEST. A
// directory is copied as a directory into DestDir (/app → DEST/DESTDIR/app);
// "SRC/." copies its contents (/app/. → DEST/DESTDIR/...); a file goes into
// DestDir. A path element may be a glob pattern (*, ?, [...], matching
// within the element, dot files included), and every match is copied, in
// order; when two sources write the same path, the later one wins, and
// directories merge. Symlinks in the directories leading to Src are
// followed within the image, as a container would (an absolute target
// starts at the image root, ".." stops there); Src itself is copied as a
// symlink if it is one, unless it ends in "/.". A Src that matches nothing
// is a *NotFoundError naming it. Only the selected paths are written.
//
// # The destination
//
// DEST must be empty or absent unless Options.Force is set. Nothing is
// written to DEST itself until the extraction is complete: the tree is
// built in a temporary directory (".freshpull-extract-*") on the same file
// system. An absent DEST is made by renaming the tree, at once, so a
// failed extraction leaves no DEST at all (a killed one, at most the
// temporary directory beside it). An existing DEST keeps its identity (it
// may be a mount point or someone's working directory): the temporary
// directory is made inside it and the tree's top-level entries are moved
// in; if DEST was empty and one of those moves fails, the entries already
// moved are removed again. With Force and a non-empty DEST, the
// tree is merged into it, like tar: an entry replaces what has its name
// except that directories merge, and a symlink already in DEST is
// replaced, never followed. Anything that can fail because of the image
// fails before that merge starts, leaving DEST untouched; a merge that
// fails part way (a full disk, a directory in DEST we may not write)
// says so.
//
// # Safety
//
// Entries are written relative to directories of the temporary directory
// opened through os.Root (which refuses any path leading out of it), one
// path element at a time, creating with O_EXCL and changing attributes
// without following symlinks. Within that, each hostile construction is
// handled as runtimes handle it, or refused with an *EntryError naming the
// layer and entry:
//
//   - "../" climbing above the root (in a name, a hard-link target or a
//     whiteout): refused. Runtimes clamp such names, but no image built by
//     a normal tool has one, and clamping would silently write the entry
//     over another path of the image.
//   - Absolute names: confined; "/etc/passwd" in a layer is DEST/etc/passwd,
//     as for tar and runtimes.
//   - A symlink, absolute or relative, pointing outside, with a later entry
//     written through it: confined, as runtimes do; the symlink is resolved
//     with DEST as its root (an absolute target starts at DEST, ".." stops
//     there), so the entry lands inside DEST.
//   - A hard link to a file outside: its target is an image path like any
//     other, resolved the same way, so it names a file inside DEST or none
//     (refused: does not exist).
//   - A whiteout naming a path outside: its name is cleaned and resolved
//     like an entry's; it removes at most something inside DEST.
//   - A path through a symlinked parent directory: resolved within DEST as
//     above. A symlink at the entry's own path is replaced, never followed.
//   - Very long paths: names beyond PATH_MAX (4095 bytes) or with an element
//     beyond NAME_MAX (255) are refused; Linux could not use them anyway.
//   - Duplicate entries: the later one replaces the earlier one, never
//     writing through it.
//   - Symlink loops are refused once resolution exceeds 40 links; a hard
//     link to a directory, or an entry that would replace DEST's root with
//     a non-directory, is refused.
//
// # How
//
// Extract reads the layers from the top one down and writes an entry only
// if no layer above replaced, removed or hid its path: nothing is written
// twice, and nothing that a later layer deletes (images whose last layer
// chmods or chowns a whole tree, common in OpenShift builder images, cost
// one write per file instead of two). Layers below the one being written
// are already decompressing on other cores, and with PathSpecs that select
// little, as many layers as there are cores decompress at once:
// decompression is most of the work then, since every layer must be read
// to know the flattened view. Where
// the first files show that creating a file is slow (hundreds of
// microseconds, as on ext4 on some virtual disks), files are created on
// several goroutines at once. Extract tracks, per path, which layers
// used it as a directory, so that it notices an image whose reproduction
// needs the layers applied in order: a later layer writing through a
// symlink an earlier one made, a hard link to a file of a lower layer. For
// those (no mainstream image builder produces them), it starts again and
// applies the layers bottom-up onto a scratch tree, as containerd and
// umoci do; with PathSpecs, that path writes the whole image to the
// scratch tree first. Both strategies are tested to give identical trees
// on thousands of random layer stacks, and to match umoci's.
package extract
