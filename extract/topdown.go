package extract

import (
	"archive/tar"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// topDown reads the layers from the top one down. An entry is written only
// if no layer above replaced, removed or hid its path, so nothing is
// written twice and nothing is written that a later layer deletes (an
// image whose last layer chmods a whole tree writes that tree once). It
// stops with errNeedsBottomUp when the image depends on applying layers in
// order: see the package documentation.
type topDown struct {
	*extraction
	root  *node
	globs []*spec // glob specs by bit

	// onDisk holds what has been made in each stage, directories made as
	// parents included.
	onDisk map[stageNode]struct{}
	// written maps an entry to the objects written with its data (in
	// any stage), so that its other names can be hard links to them.
	written map[pos][]dest
	// deferred lists what could not be written while streaming: hard
	// links whose data was not written (the target was hidden, replaced
	// or not selected) and matches found only by following symlinks. The
	// layers holding their data are read again at the end.
	deferred map[int]map[int][]dest
	dirs     []dirRec

	layer int
	l     int32 // layer+1
	stbuf []*stage

	// async creates regular files whose data was read ahead, once the
	// first files showed that creating them is slow (probe); rec is the
	// record being handled, and taken says async took it over (it then
	// releases it to the feed when the file is made).
	async    *creators
	useAsync bool
	probe    probe
	feed     *feed
	rec      *record
	taken    bool
}

// probe times the first regular files made. Where creating a file takes
// the kernel tens of microseconds (tmpfs, most local disks), handing
// files to other goroutines costs more than it saves, since the cores are
// busy decompressing; where it takes hundreds (ext4 on some virtual
// disks), overlapping the creations is the biggest win there is.
type probe struct {
	n     int
	total time.Duration
}

const (
	probeFiles = 64
	slowCreate = 200 * time.Microsecond
)

// add records one creation and says whether creating files is slow.
func (p *probe) add(d time.Duration) bool {
	p.n++
	p.total += d
	return p.n == probeFiles && p.total/probeFiles > slowCreate
}

// alwaysAsync makes every extraction create files on other goroutines
// from the first one, for tests.
var alwaysAsync bool

// stageNode is a node's place in a stage.
type stageNode struct {
	st *stage
	n  *node
}

// dest is a node's place in a stage as of one generation of the node
// (see node.gen): if the node's object is replaced, the dest is stale.
type dest struct {
	st  *stage
	n   *node
	gen uint32
}

// dirRec is the attributes of a directory made in a stage, applied once
// everything is in place.
type dirRec struct {
	st  *stage
	n   *node
	gen uint32
	m   dirMeta
}

func (x *extraction) topDown() (*output, error) {
	x.begin()
	t := &topDown{
		extraction: x,
		root:       &node{kind: kindDir},
		onDisk:     map[stageNode]struct{}{},
		written:    map[pos][]dest{},
		deferred:   map[int]map[int][]dest{},
	}
	defer x.cache.closeAll()
	t.async = newCreators(x.w)
	defer func() { x.async = t.async.stop(x.w) }()
	t.useAsync = alwaysAsync
	// Glob specs first: nodes record which patterns they match as they
	// are made, and the literal specs' nodes are made next.
	for _, sp := range x.specs {
		if sp.glob {
			t.globs = append(t.globs, sp)
			t.root.globs |= 1 << sp.globBit
		}
	}
	for _, sp := range x.specs {
		if !sp.glob {
			n := t.root
			for _, c := range sp.comps {
				n = n.child(c, true, t.globs)
			}
			t.addStage(sp, n)
		}
	}
	// Layers are fed a few at a time, top first.
	var feeds []*feed
	defer func() {
		for _, f := range feeds {
			f.close()
		}
	}()
	wants := wanted(x.specs)
	next := len(x.layers) - 1
	for range x.layers {
		for next >= 0 && len(feeds) < feeding() {
			f, err := x.startFeed(next, wants)
			if err != nil {
				return nil, err
			}
			feeds = append(feeds, f)
			next--
		}
		f := feeds[0]
		err := t.readLayer(f)
		f.close()
		feeds = feeds[1:]
		if err != nil {
			return nil, err
		}
	}
	if err := t.async.wait(); err != nil {
		return nil, err
	}
	stages, err := t.selectMatches()
	if err != nil {
		return nil, err
	}
	if err := t.writeDeferred(); err != nil {
		return nil, err
	}
	out := &output{stages: stages, engine: "top-down"}
	order := map[*stage]int{}
	for i, st := range stages {
		order[st] = i + 1
	}
	for _, d := range t.dirs {
		if order[d.st] > 0 && d.n.gen == d.gen {
			m := d.m
			m.st, m.rel = d.st, d.n.rel(d.st.root)
			out.dirs = append(out.dirs, m)
		}
	}
	// finish lets a later stage's directories win, as its files do.
	slices.SortStableFunc(out.dirs, func(a, b dirMeta) int { return order[a.st] - order[b.st] })
	return out, nil
}

func (t *topDown) addStage(sp *spec, n *node) *stage {
	st := t.newStage(sp, n, n.rel(t.root))
	n.stages = append(n.stages, st)
	return st
}

func (t *topDown) readLayer(f *feed) error {
	t.layer, t.l = f.index, int32(f.index+1)
	t.w.layer = f.digest
	seq := 0
	t.feed = f
	for r := range f.recs {
		if r.err != nil {
			return r.err
		}
		t.rec, t.taken = r, false
		err := t.entry(r.hdr, seq, r.body())
		if !t.taken {
			f.release(r)
		}
		if err != nil {
			return entryErr(f.digest, r.hdr, err)
		}
		seq++
	}
	return nil
}

// walk finds the node for p, creating it unless find is set, and checks
// the directories on the way: whether a layer above hides p, whether this
// layer made one of them a non-directory earlier (so applying layers in
// order would follow a symlink or fail), and which stages p falls in. It
// records p as a use of those directories, and of itself when self is set
// (an opaque marker uses its directory). Unless find is set, the stages
// are left in t.stbuf.
func (t *topDown) walk(p string, at pos, self, find bool) (walked, error) {
	if !find {
		t.stbuf = t.stbuf[:0]
	}
	var w walked
	n := t.root
	for rest := p; ; {
		if !find {
			t.stageAt(n)
		}
		last := rest == "." || rest == ""
		if !last || self {
			if n.curIn == t.l && !n.curKind.isDir() && n.curKind != kindNone {
				return w, errNeedsBottomUp
			}
			n.use.add(at, t.l)
		}
		if n.hide > t.l {
			w.hidden = true
		}
		if last {
			w.n = n
			return w, nil
		}
		if !w.hidden {
			w.lastDir = n
		}
		if n.opaque > t.l {
			w.hidden = true
		}
		elem, after, _ := strings.Cut(rest, "/")
		rest = after
		c := n.child(elem, !find, t.globs)
		if c == nil {
			return w, nil
		}
		n = c
	}
}

// walked is what walk found.
type walked struct {
	n      *node
	hidden bool // a layer above removed or hid the path
	// lastDir is the deepest directory on the way that no layer above
	// removed: applying layers in order, an entry makes its missing
	// directories, and they outlive the entry when a later layer
	// removes only what is beneath them.
	lastDir *node
}

// stageAt collects the stages rooted at n, first creating those of glob
// specs whose pattern n completes.
func (t *topDown) stageAt(n *node) {
	for b := n.globs; b != 0; b &= b - 1 {
		sp := t.globs[bits.TrailingZeros64(b)]
		if int(n.depth) != len(sp.comps) {
			continue
		}
		found := false
		for _, st := range n.stages {
			found = found || st.spec == sp
		}
		if !found {
			t.addStage(sp, n)
		}
	}
	t.stbuf = append(t.stbuf, n.stages...)
}

// entry handles one entry; body is its data.
func (t *topDown) entry(hdr *tar.Header, seq int, body io.Reader) error {
	e, err := classify(hdr)
	if err != nil {
		return err
	}
	if err := t.ctx.Err(); err != nil {
		return err
	}
	at := mkpos(t.layer, seq)
	switch e.kind {
	case kindIgnore:
		return nil
	case kindWhiteout:
		w, err := t.walk(e.path, at, false, false)
		if err != nil {
			return err
		}
		n := w.n
		n.hide = max(n.hide, t.l)
		n.killSelf.add(at, t.l)
		n.killBelow.add(at, t.l)
		return nil
	case kindOpaque:
		w, err := t.walk(e.path, at, true, false)
		if err != nil {
			return err
		}
		n := w.n
		n.opaque = max(n.opaque, t.l)
		n.killBelow.add(at, t.l)
		return nil
	case kindDir:
		return t.dir(&e, at)
	}
	return t.nonDir(&e, at, body)
}

func (t *topDown) dir(e *entry, at pos) error {
	w, err := t.walk(e.path, at, false, false)
	if err != nil {
		return err
	}
	n := w.n
	n.killSelf.add(at, t.l)
	visible := !w.hidden && n.top <= t.l
	n.top = max(n.top, t.l)
	n.curIn, n.curKind, n.curContent, n.curTarget = t.l, kindDir, at, ""
	stages := t.stbuf
	if err := t.makeParents(w.lastDir, stages); err != nil {
		return err
	}
	if !visible {
		return nil
	}
	if n.kind != kindNone && !n.kind.isDir() {
		// An earlier entry of this layer made a non-directory here.
		if err := t.remove(n, stages); err != nil {
			return err
		}
	}
	count := n.kind != kindDir // not for a duplicate of a directory
	n.kind, n.at, n.content, n.target = kindDir, at, at, ""
	t.w.entry = e.path
	for _, st := range stages {
		if err := t.writeDir(st, n, e.hdr, count); err != nil {
			return err
		}
	}
	return nil
}

// writeDir makes (or adopts, if made as a parent) the directory n in st
// and applies the entry's owner and extended attributes.
func (t *topDown) writeDir(st *stage, n *node, hdr *tar.Header, count bool) error {
	h, name, err := t.parentOf(st, n)
	if err != nil {
		return err
	}
	_, exists := t.onDisk[stageNode{st, n}]
	if !exists {
		if err := t.w.mkdir(h, name); err != nil {
			return err
		}
		t.onDisk[stageNode{st, n}] = struct{}{}
	}
	if count && !(n == st.root && st.spec.contents) {
		t.w.files++ // (the root of a "/." copy is not copied itself)
	}
	if err := t.w.dirOwner(h, name, hdr, !exists); err != nil {
		return err
	}
	t.dirs = append(t.dirs, dirRec{st: st, n: n, gen: n.gen, m: metaOf(hdr)})
	return nil
}

func (t *topDown) nonDir(e *entry, at pos, body io.Reader) error {
	w, err := t.walk(e.path, at, false, false)
	if err != nil {
		return err
	}
	n := w.n
	stages := t.stbuf
	// Applying the layers in order, a use of this path from a layer above
	// that comes before anything removes this non-directory would write
	// through it (a symlink) or fail (a file): top-down reading cannot
	// reproduce that.
	if u := n.use.aboveOf(t.l); u != 0 {
		if k := killAbove(n, t.l); k == 0 || u < k {
			return errNeedsBottomUp
		}
	}
	// Applying in order, this entry removes what the layer put beneath
	// it so far, before a layer above makes a directory here again:
	// top-down reading, which skips this entry, would keep that.
	if n.use.in == t.l {
		if n.top > t.l {
			return errNeedsBottomUp
		}
		// Hard links later in the layer cannot name those entries.
		n.walk(func(d *node) {
			if d != n {
				d.curIn = 0
			}
		})
	}
	k, content, target := e.kind, at, e.hdr.Linkname
	if e.kind == kindHardlink {
		tw, err := t.walk(e.target, at, false, true)
		if err != nil {
			return err
		}
		tn := tw.n
		if tn == nil || tn.curIn != t.l {
			// The target is in a lower layer, or later in this one:
			// what it names depends on the layers applied before.
			return errNeedsBottomUp
		}
		if tn.curKind.isDir() {
			return fmt.Errorf("hard link to %q, a directory", e.hdr.Linkname)
		}
		if tn.beneath(n) {
			// Replacing the directory at the link's path removes the
			// target first, as applying the layer in order would.
			return fmt.Errorf("hard link to %q, which does not exist", e.hdr.Linkname)
		}
		k, content, target = tn.curKind, tn.curContent, tn.curTarget
	}
	if k != kindSymlink {
		target = ""
	}
	n.killSelf.add(at, t.l)
	n.killBelow.add(at, t.l)
	visible := !w.hidden && n.top <= t.l
	n.top = max(n.top, t.l)
	n.hide = max(n.hide, t.l)
	n.curIn, n.curKind, n.curContent, n.curTarget = t.l, k, content, target
	if err := t.makeParents(w.lastDir, stages); err != nil {
		return err
	}
	if !visible {
		return nil
	}
	if n.kind != kindNone {
		// Something this layer wrote earlier is here: a duplicate, or a
		// directory made as a parent. The later entry wins, as in tar.
		if err := t.remove(n, stages); err != nil {
			return err
		}
	}
	n.kind, n.at, n.content, n.target = k, at, content, target
	t.w.entry = e.path
	if e.kind == kindHardlink {
		return t.hardlink(n, content, stages)
	}
	return t.writeObject(stages, n, k, e.hdr, body)
}

// makeParents makes d and the directories above it exist, in the
// flattened view and in the stages that hold d (of those the entry's walk
// collected): applying layers in order, an entry's directories are made
// for it, and stay even when a later layer hides the entry itself.
func (t *topDown) makeParents(d *node, stages []*stage) error {
	for a := d; a != nil && a.kind == kindNone; a = a.parent {
		a.kind = kindImplicit
	}
	for _, st := range stages {
		if d.beneath(st.root) {
			if _, err := t.dirHandle(st, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeObject writes one non-directory to each stage: the first gets a new
// object, the others hard links to it (see the package documentation on
// hard links).
func (t *topDown) writeObject(stages []*stage, n *node, k kind, hdr *tar.Header, r io.Reader) error {
	if len(stages) == 0 {
		return nil
	}
	h, name, err := t.parentOf(stages[0], n)
	if err != nil {
		return err
	}
	if t.useAsync && k == kindReg && len(stages) == 1 && t.rec != nil && t.rec.data != nil {
		f, rec := t.feed, t.rec
		t.taken = true
		t.onDisk[stageNode{stages[0], n}] = struct{}{}
		t.written[n.content] = append(t.written[n.content], dest{stages[0], n, n.gen})
		return t.async.submit(&creation{h: h, name: name, hdr: hdr, data: rec.data,
			layer: t.w.layer, entry: t.w.entry, release: func() { f.release(rec) }})
	}
	start := time.Now()
	created, err := t.w.create(h, name, k, hdr, r)
	if k == kindReg && t.probe.add(time.Since(start)) {
		t.useAsync = true
	}
	if err != nil || !created {
		return err
	}
	t.onDisk[stageNode{stages[0], n}] = struct{}{}
	t.written[n.content] = append(t.written[n.content], dest{stages[0], n, n.gen})
	return t.hardlink(n, n.content, stages[1:])
}

// hardlink links n in each stage to an object already written with the
// same data, or defers it until that data is read again.
func (t *topDown) hardlink(n *node, content pos, stages []*stage) error {
	if err := t.async.wait(); err != nil {
		return err
	}
	for _, st := range stages {
		from := t.writtenAt(content)
		if from == "" {
			t.deferTo(content, dest{st, n, n.gen})
			continue
		}
		if err := t.linkTo(from, st, n, content); err != nil {
			return err
		}
	}
	return nil
}

// writtenAt is the path of an object that holds the data of the entry at
// content, or "" if none does (any more).
func (t *topDown) writtenAt(content pos) string {
	for _, d := range t.written[content] {
		if _, ok := t.onDisk[stageNode{d.st, d.n}]; ok && d.n.gen == d.gen {
			return t.pathOf(d.st, d.n)
		}
	}
	return ""
}

// linkTo makes n in st a hard link to the object at from.
func (t *topDown) linkTo(from string, st *stage, n *node, content pos) error {
	if _, _, err := t.parentOf(st, n); err != nil {
		return err
	}
	if err := t.w.link(t.dest.tmp, from, t.pathOf(st, n)); err != nil {
		return err
	}
	t.onDisk[stageNode{st, n}] = struct{}{}
	t.written[content] = append(t.written[content], dest{st, n, n.gen})
	return nil
}

func (t *topDown) deferTo(at pos, d dest) {
	m := t.deferred[at.layer()]
	if m == nil {
		m = map[int][]dest{}
		t.deferred[at.layer()] = m
	}
	m[at.seq()] = append(m[at.seq()], d)
}

// remove deletes what was written for n and beneath it, in the stages
// that hold n and in those rooted beneath it, and forgets it.
func (t *topDown) remove(n *node, stages []*stage) error {
	if err := t.async.wait(); err != nil {
		return err
	}
	all := slices.Clone(stages)
	n.walk(func(d *node) {
		if d != n {
			all = append(all, d.stages...)
		}
	})
	for _, st := range all {
		top := n
		if !n.beneath(st.root) {
			top = st.root
		}
		if _, ok := t.onDisk[stageNode{st, top}]; !ok {
			continue
		}
		h, name, err := t.parentOf(st, top)
		if err != nil {
			return err
		}
		t.cache.drop(func(k handleKey) bool { return k.st == st && k.n != nil && k.n.beneath(top) })
		if err := h.root.RemoveAll(name); err != nil {
			return err
		}
	}
	n.walk(func(d *node) {
		for _, st := range all {
			delete(t.onDisk, stageNode{st, d})
		}
		d.gen++
		if d != n {
			d.kind = kindNone
		}
	})
	return nil
}

// parentOf returns the open directory that holds n in st, creating
// missing directories, and n's name in it.
func (t *topDown) parentOf(st *stage, n *node) (*dirHandle, string, error) {
	if n == st.root {
		h, err := t.stageHandle(st)
		return h, "x", err
	}
	h, err := t.dirHandle(st, n.parent)
	return h, n.name, err
}

// dirHandle returns d opened in st, creating it as a plain parent
// directory if nothing made it yet.
func (t *topDown) dirHandle(st *stage, d *node) (*dirHandle, error) {
	k := handleKey{st: st, n: d}
	if h := t.cache.get(k); h != nil {
		return h, nil
	}
	ph, name, err := t.parentOf(st, d)
	if err != nil {
		return nil, err
	}
	if _, ok := t.onDisk[stageNode{st, d}]; !ok {
		if err := t.w.mkdir(ph, name); err != nil {
			return nil, err
		}
		t.onDisk[stageNode{st, d}] = struct{}{}
		t.dirs = append(t.dirs, dirRec{st: st, n: d, gen: d.gen, m: dirMeta{implicit: true, mode: implicitMode}})
	}
	h, err := ph.sub(name)
	if err != nil {
		return nil, err
	}
	t.cache.put(k, h)
	return h, nil
}

// pathOf is n's path in st, relative to the temporary directory.
func (t *topDown) pathOf(st *stage, n *node) string {
	if n == st.root {
		return st.dir + "/x"
	}
	return st.dir + "/x/" + n.rel(st.root)
}

// selectMatches resolves each spec in the flattened view, now complete,
// and returns the stages to place, in order. A match that was not staged
// while streaming (found through a symlink) gets a stage whose entries are
// read again.
func (t *topDown) selectMatches() ([]*stage, error) {
	var out []*stage
	for _, sp := range t.specs {
		ms, err := resolveSpec[*node](treeView{t.root}, sp)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			var st *stage
			for _, s := range m.n.stages {
				if s.spec == sp {
					st = s
				}
			}
			if st == nil {
				st = t.addStage(sp, m.n)
				var err error
				m.n.walk(func(d *node) {
					switch {
					case d.kind == kindNone:
					case d.kind == kindImplicit, d == t.root:
						if err == nil {
							_, err = t.dirHandle(st, d)
						}
					case d.kind == kindDir:
						t.deferTo(d.at, dest{st, d, d.gen})
					default:
						if err == nil {
							err = t.hardlink(d, d.content, []*stage{st})
						}
					}
				})
				if err != nil {
					return nil, err
				}
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// writeDeferred reads again the layers holding deferred data and writes
// it. The destinations of one entry are hard links to each other.
func (t *topDown) writeDeferred() error {
	layers := slices.Sorted(maps.Keys(t.deferred))
	for _, i := range layers {
		if err := t.rereadLayer(i, t.deferred[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *topDown) rereadLayer(i int, want map[int][]dest) error {
	lr, err := t.openLayer(i)
	if err != nil {
		return err
	}
	defer lr.close()
	t.w.layer = lr.digest
	left := len(want)
	for seq := 0; left > 0; seq++ {
		hdr, err := lr.next()
		if err != nil {
			return err
		}
		if hdr == nil {
			return fmt.Errorf("layer %s changed while extracting: it has fewer entries than when first read", lr.digest)
		}
		ds, ok := want[seq]
		if !ok {
			continue
		}
		left--
		if err := t.writeAgain(hdr, mkpos(i, seq), ds, lr.tr); err != nil {
			return entryErr(lr.digest, hdr, err)
		}
	}
	return nil
}

// writeAgain writes the entry at content, read again, to its deferred
// destinations: the first gets a new object, unless one was written since,
// and the others hard links to it.
func (t *topDown) writeAgain(hdr *tar.Header, content pos, ds []dest, r io.Reader) error {
	e, err := classify(hdr)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.n.gen != d.gen {
			continue
		}
		t.w.entry = d.n.rel(t.root)
		if e.kind == kindDir {
			if err := t.writeDir(d.st, d.n, hdr, true); err != nil {
				return err
			}
			continue
		}
		if from := t.writtenAt(content); from != "" {
			if err := t.linkTo(from, d.st, d.n, content); err != nil {
				return err
			}
			continue
		}
		h, name, err := t.parentOf(d.st, d.n)
		if err != nil {
			return err
		}
		created, err := t.w.create(h, name, e.kind, hdr, r)
		if err != nil {
			return err
		}
		if created {
			t.onDisk[stageNode{d.st, d.n}] = struct{}{}
			t.written[content] = append(t.written[content], dest{d.st, d.n, d.gen})
		}
	}
	return nil
}

// treeView is the flattened view the top-down tree holds once every layer
// is read.
type treeView struct{ top *node }

func (v treeView) root() *node { return v.top }

func (v treeView) parent(n *node) *node {
	if n.parent == nil {
		return n
	}
	return n.parent
}

func (v treeView) lookup(dir *node, name string) (*node, kind, string, bool, error) {
	c := dir.children[name]
	if c == nil || c.kind == kindNone {
		return nil, 0, "", false, nil
	}
	return c, c.kind, c.target, true, nil
}

func (v treeView) list(dir *node) ([]string, error) {
	var names []string
	for name, c := range dir.children {
		if c.kind != kindNone {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}
