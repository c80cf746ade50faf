package dockerfile

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// mount is the from= option of a RUN --mount flag.
type mount struct {
	value  string // "" when the mount names no from=
	raw    span   // where value is written, when noEdit is ""
	noEdit string
}

// mountFrom finds from= in the options of the --mount flag f. opts are the
// options as the parser read them (quotes and escapes processed); like
// buildkit, they are CSV fields whose keys are case-insensitive, and the
// last from= wins.
func mountFrom(text string, f builderFlag, opts string) (mount, error) {
	rec, err := csv.NewReader(strings.NewReader(opts)).Read()
	if err != nil && !errors.Is(err, io.EOF) {
		return mount{}, err
	}
	var m mount
	for _, field := range rec {
		if k, v, ok := strings.Cut(field, "="); ok && strings.EqualFold(k, "from") {
			m.value = v
		}
	}
	if m.value == "" {
		return m, nil
	}
	const prefix = "--mount="
	raw := unquote(text, span{f.raw.start + len(prefix), f.raw.end})
	if !strings.HasPrefix(text[f.raw.start:f.raw.end], prefix) || text[raw.start:raw.end] != opts || strings.Contains(opts, `"`) {
		m.noEdit = "the mount options are written with quotes or escapes; write them plainly to have the image pinned"
		return m, nil
	}
	// Plain text: the CSV fields are the comma-separated pieces, so offsets
	// can be counted directly.
	at := raw.start
	for field := range strings.SplitSeq(opts, ",") {
		if k, v, ok := strings.Cut(field, "="); ok && strings.EqualFold(k, "from") {
			m.raw = span{at + len(k) + 1, at + len(k) + 1 + len(v)}
		}
		at += len(field) + 1
	}
	return m, nil
}
