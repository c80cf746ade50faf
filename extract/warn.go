package extract

import (
	"fmt"
	"strings"
)

// warnings collects non-fatal problems by kind, so that an image with
// thousands of device nodes or capabilities gives one line each, with a
// count and the first example, instead of a flood.
type warnings struct {
	order []string
	byKey map[string]*warning
}

type warning struct {
	format string // with %d for the count and %s for the first example
	count  int
	first  string
}

func (w *warnings) add(key, format, example string) {
	if w.byKey == nil {
		w.byKey = map[string]*warning{}
	}
	x := w.byKey[key]
	if x == nil {
		x = &warning{format: format, first: example}
		w.byKey[key] = x
		w.order = append(w.order, key)
	}
	x.count++
}

func (w *warnings) messages() []string {
	var out []string
	for _, k := range w.order {
		x := w.byKey[k]
		out = append(out, fmt.Sprintf(x.format, x.count, x.first))
	}
	return out
}

// esc makes s safe to splice into a warning format.
func esc(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// merge adds o's warnings to w.
func (w *warnings) merge(o *warnings) {
	for _, k := range o.order {
		x := o.byKey[k]
		if w.byKey == nil {
			w.byKey = map[string]*warning{}
		}
		if y := w.byKey[k]; y != nil {
			y.count += x.count
			continue
		}
		w.byKey[k] = &warning{format: x.format, count: x.count, first: x.first}
		w.order = append(w.order, k)
	}
}
