package extract

import (
	"math/bits"
	"path"
	"strings"
)

// pos is the place of an entry in the order the layers would be applied
// (bottom-up): the layer, then the entry's number within it. Zero means
// none.
type pos uint64

func mkpos(layer, seq int) pos { return pos(uint64(layer+1)<<40 | uint64(seq)) }
func (p pos) layer() int       { return int(p>>40) - 1 }
func (p pos) seq() int         { return int(p & (1<<40 - 1)) }

// earliest returns the earlier of two positions, treating zero as none.
func earliest(a, b pos) pos {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// minPos is the earliest position recorded for a node, split into the
// layers already read and the layer being read: the conflict checks
// compare against the layers above the current one only.
type minPos struct {
	above pos
	cur   pos
	in    int32 // layer+1 that cur belongs to
}

func (m *minPos) add(p pos, l int32) {
	if m.in != l {
		m.above = earliest(m.above, m.cur)
		m.cur, m.in = p, l
		return
	}
	m.cur = earliest(m.cur, p)
}

// aboveOf is the earliest position in layers above l (l = layer+1).
func (m *minPos) aboveOf(l int32) pos {
	if m.in != l {
		return earliest(m.above, m.cur)
	}
	return m.above
}

// node is one path of the image, as the top-down engine has seen it so
// far. Layer numbers are stored as layer+1 so that zero means none.
type node struct {
	name     string
	parent   *node
	children map[string]*node
	depth    int32

	// Shadowing by the layers read so far.
	top    int32 // highest layer with an entry at this path (whiteouts aside)
	hide   int32 // highest layer with a whiteout or a non-directory here: lower layers are hidden here and beneath
	opaque int32 // highest layer with an opaque marker here: lower layers are hidden beneath

	// The flattened view: what the visible entry made here.
	kind    kind
	target  string // symlink target
	at      pos    // the visible entry
	content pos    // the entry whose data the object holds (the target's, for a hard link)

	// Positions that tell when applying layers in order would follow a
	// symlink or hit a file where top-down reading assumes a directory.
	use       minPos // entries beneath this path, hard-link targets included
	killSelf  minPos // entries at this path, whiteouts included
	killBelow minPos // whiteouts, non-directories and opaque markers here: they remove what is beneath

	// The latest entry at this path in the layer being read: what a hard
	// link to this path means.
	curIn      int32
	curKind    kind
	curContent pos
	curTarget  string

	gen    uint32   // bumped when the object written for this node is removed
	stages []*stage // stages rooted here
	globs  uint64   // bit i: the path matches the first depth elements of glob spec i
}

// child returns the child name, creating it when create is set.
func (n *node) child(name string, create bool, globs []*spec) *node {
	if c := n.children[name]; c != nil || !create {
		return c
	}
	c := &node{name: strings.Clone(name), parent: n, depth: n.depth + 1}
	for b := n.globs; b != 0; b &= b - 1 {
		i := bits.TrailingZeros64(b)
		comps := globs[i].comps
		if int(c.depth) <= len(comps) {
			if ok, _ := path.Match(comps[c.depth-1], name); ok {
				c.globs |= 1 << i
			}
		}
	}
	if n.children == nil {
		n.children = map[string]*node{}
	}
	n.children[c.name] = c
	return c
}

// beneath reports whether n is a or lies beneath it.
func (n *node) beneath(a *node) bool {
	for ; n != nil && n.depth >= a.depth; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// rel is n's path relative to a, which must be n or an ancestor of it.
func (n *node) rel(a *node) string {
	if n == a {
		return "."
	}
	var parts []string
	for ; n != a; n = n.parent {
		parts = append(parts, n.name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString(parts[i])
		if i > 0 {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// walk visits n and everything beneath it.
func (n *node) walk(f func(*node)) {
	f(n)
	for _, c := range n.children {
		c.walk(f)
	}
}

// killAbove is the earliest position, in layers above l, of an entry that
// removes or replaces whatever is at n.
func killAbove(n *node, l int32) pos {
	k := n.killSelf.aboveOf(l)
	for a := n.parent; a != nil; a = a.parent {
		k = earliest(k, a.killBelow.aboveOf(l))
	}
	return k
}
