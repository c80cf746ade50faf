package dockerfile

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The parser hands us each instruction as one logical line (node.Original):
// continuation lines joined, escape tokens at line ends, comment lines and
// empty continuation lines dropped, leading white space of the first line
// trimmed. To rewrite a token in place we need its bytes in the file, so
// logicalLine rebuilds that same string from the raw lines, remembering for
// every byte where it came from. The rules below mirror
// github.com/moby/buildkit/frontend/dockerfile/parser (Parse, processLine,
// trimContinuationCharacter); Parse checks the result against node.Original,
// so a drift between the two is an error rather than a wrong edit.

// source is a Dockerfile split into physical lines the way the parser's
// scanner splits it: at '\n', each line keeping its line ending.
type source struct {
	src    []byte
	starts []int // starts[i] is the offset of line i+1
	// continuation matches an escape token at the end of a line, as the
	// parser's lineContinuationRegex does.
	continuation *regexp.Regexp
}

func newSource(src []byte, escape rune) *source {
	s := &source{src: src, starts: []int{0}}
	for i, b := range src {
		if b == '\n' && i+1 < len(src) {
			s.starts = append(s.starts, i+1)
		}
	}
	e := regexp.QuoteMeta(string(escape))
	s.continuation = regexp.MustCompile(`([^` + e + `])` + e + `[ \t]*$|^` + e + `[ \t]*$`)
	return s
}

// line returns physical line n (1-based) without its line ending, and the
// offset of its first byte.
func (s *source) line(n int) ([]byte, int) {
	start := s.starts[n-1]
	end := len(s.src)
	if n < len(s.starts) {
		end = s.starts[n]
	}
	b := bytes.TrimRight(s.src[start:end], "\r\n")
	if n == 1 {
		// The parser drops a UTF-8 byte-order mark on the first line.
		if t := bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF}); len(t) != len(b) {
			start += len(b) - len(t)
			b = t
		}
	}
	return b, start
}

// lineOf returns the 1-based line holding byte offset off.
func (s *source) lineOf(off int) int {
	lo, hi := 0, len(s.starts)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if s.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1
}

// logical is one instruction's logical line with, for each byte, its offset
// in the file.
type logical struct {
	text string
	pos  []int
}

// logicalLine rebuilds the logical line of the instruction starting at
// physical line start.
func (s *source) logicalLine(start int) logical {
	var text []byte
	var pos []int
	add := func(b []byte, off int) {
		text = append(text, b...)
		for i := range b {
			pos = append(pos, off+i)
		}
	}
	for n := start; n <= len(s.starts); n++ {
		b, off := s.line(n)
		if n == start {
			t := bytes.TrimLeftFunc(b, unicode.IsSpace)
			off += len(b) - len(t)
			b = t
		} else if isComment(b) || len(bytes.TrimLeftFunc(b, unicode.IsSpace)) == 0 {
			continue
		}
		m := s.continuation.FindSubmatchIndex(b)
		if m == nil {
			add(b, off)
			break
		}
		// Keep what precedes the escape token, including the character the
		// first alternative of the expression consumed.
		keep := m[0]
		if m[2] >= 0 {
			keep = m[3]
		}
		add(b[:keep], off)
	}
	return logical{text: string(text), pos: pos}
}

func isComment(b []byte) bool {
	b = bytes.TrimLeftFunc(b, unicode.IsSpace)
	return len(b) > 0 && b[0] == '#'
}

// span is a half-open byte range [start, end) in a logical line.
type span struct{ start, end int }

// fileSpan maps sp to offsets in the file. ok is false when the span does not
// map to one contiguous run of bytes, i.e. a line continuation splits it.
func (l logical) fileSpan(sp span) (start, end int, ok bool) {
	if sp.end <= sp.start {
		return 0, 0, false
	}
	start, last := l.pos[sp.start], l.pos[sp.end-1]
	return start, last + 1, last-start == sp.end-1-sp.start
}

// builderFlag is one builder flag ("--from=img"): its raw span in the
// logical line and its value once quotes and escapes are processed, as the
// parser stores it in node.Flags.
type builderFlag struct {
	raw   span
	value string
}

// splitInstruction returns the builder flags of the instruction on a
// logical line, and the offset where its arguments begin. It mirrors the
// parser's splitCommand and extractBuilderFlags.
func splitInstruction(line string, escape rune) ([]builderFlag, int) {
	rest := strings.IndexAny(line, "\t\v\f\r ")
	if rest < 0 {
		return nil, len(line)
	}
	for rest < len(line) && strings.IndexByte("\t\v\f\r ", line[rest]) >= 0 {
		rest++
	}
	return scanFlags(line, rest, escape)
}

// scanFlags reads flags byte by byte like extractBuilderFlags, including its
// reading of each byte as a rune: a byte above 0x7f becomes two in the
// value, as in node.Flags.
func scanFlags(line string, from int, escape rune) ([]builderFlag, int) {
	const (
		inSpaces = iota
		inWord
		inQuote
	)
	var flags []builderFlag
	phase := inSpaces
	var word strings.Builder
	wordStart := 0
	quote := byte(0)
	blankOK := false
	for pos := from; pos <= len(line); pos++ {
		var ch byte
		if pos < len(line) {
			ch = line[pos]
		}
		if phase == inSpaces {
			if pos == len(line) {
				return flags, len(line)
			}
			if unicode.IsSpace(rune(ch)) {
				continue
			}
			if ch != '-' || pos+1 == len(line) || line[pos+1] != '-' {
				return flags, pos
			}
			phase, wordStart = inWord, pos
		}
		if pos == len(line) {
			if w := word.String(); w != "--" && (blankOK || len(w) > 0) {
				flags = append(flags, builderFlag{raw: span{wordStart, pos}, value: w})
			}
			return flags, len(line)
		}
		switch phase {
		case inWord:
			if unicode.IsSpace(rune(ch)) {
				w := word.String()
				phase = inSpaces
				if w == "--" {
					return flags, pos
				}
				if blankOK || len(w) > 0 {
					flags = append(flags, builderFlag{raw: span{wordStart, pos}, value: w})
				}
				word.Reset()
				blankOK = false
				continue
			}
			if ch == '\'' || ch == '"' {
				quote, blankOK, phase = ch, true, inQuote
				continue
			}
			if rune(ch) == escape {
				if pos+1 == len(line) {
					continue
				}
				pos++
				ch = line[pos]
			}
			word.WriteRune(rune(ch))
		case inQuote:
			if ch == quote {
				phase = inWord
				continue
			}
			if rune(ch) == escape {
				if pos+1 == len(line) {
					phase = inWord
					continue
				}
				pos++
				ch = line[pos]
			}
			word.WriteRune(rune(ch))
		}
	}
	return flags, len(line)
}

// fields splits line[from:] at runs of the parser's white space, as the
// parser does for FROM's arguments.
var reNonWhitespace = regexp.MustCompile(`[^\t\v\f\r ]+`)

func fields(line string, from int) []span {
	var out []span
	for _, m := range reNonWhitespace.FindAllStringIndex(line[from:], -1) {
		out = append(out, span{from + m[0], from + m[1]})
	}
	return out
}

// words splits line[from:] into white-space separated words that may be
// quoted, as the parser's parseWords does for ARG, returning raw spans
// (quotes and escapes included, as the parser keeps them).
func words(line string, from int, escape rune) []span {
	const (
		inSpaces = iota
		inWord
		inQuote
	)
	var out []span
	phase := inSpaces
	quote := rune(0)
	start := 0
	for pos := from; pos <= len(line); {
		if pos == len(line) {
			if phase != inSpaces {
				out = append(out, span{start, pos})
			}
			break
		}
		ch, w := utf8.DecodeRuneInString(line[pos:])
		switch phase {
		case inSpaces:
			if unicode.IsSpace(ch) {
				pos += w
				continue
			}
			phase, start = inWord, pos
			continue
		case inWord:
			if unicode.IsSpace(ch) {
				out = append(out, span{start, pos})
				phase = inSpaces
				pos += w
				continue
			}
			if ch == '\'' || ch == '"' {
				quote, phase = ch, inQuote
			} else if ch == escape {
				// The parser drops an escape token that ends the line.
				if pos+w == len(line) {
					if pos > start {
						out = append(out, span{start, pos})
					}
					return out
				}
				// An escaped character never ends a word or opens a quote.
				_, w2 := utf8.DecodeRuneInString(line[pos+w:])
				w += w2
			}
		case inQuote:
			if ch == quote {
				phase = inWord
			} else if ch == escape && quote != '\'' {
				if pos+w == len(line) {
					return append(out, span{start, pos})
				}
				_, w2 := utf8.DecodeRuneInString(line[pos+w:])
				w += w2
			}
		}
		pos += w
	}
	return out
}

// errDrift reports that our reading of an instruction disagrees with the
// parser's: rewriting would risk editing the wrong bytes.
func errDrift(name string, line int, what, ours, parsers string) error {
	return fmt.Errorf("%s:%d: cannot locate %s in the source (read %q, the parser read %q); please report this Dockerfile as a freshpull bug", name, line, what, ours, parsers)
}
