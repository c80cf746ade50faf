package dockerfile

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// metaArg is an ARG declared before the first FROM: the only ARGs that FROM
// lines can use.
type metaArg struct {
	set      bool   // it has a value (a default or a build arg)
	value    string // the value after substitution
	buildArg bool   // value comes from the build args, not the file
	missing  []string
	// dflt is where the default that gave value is written; nil when the
	// value came from a build arg.
	dflt *argDefault
}

// argDefault locates an ARG's default value in the file.
type argDefault struct {
	line       int
	start, end int
	noEdit     string
}

// builderArgs are set by the builder from the build and target platforms;
// an image reference made of them differs per platform.
var builderArgs = map[string]bool{
	"BUILDPLATFORM": true, "BUILDOS": true, "BUILDOSVERSION": true, "BUILDARCH": true, "BUILDVARIANT": true,
	"TARGETPLATFORM": true, "TARGETOS": true, "TARGETOSVERSION": true, "TARGETARCH": true, "TARGETVARIANT": true,
	"TARGETSTAGE": true,
}

// reWholeArg matches a word that is exactly one ARG: $NAME or ${NAME}.
var reWholeArg = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$`)

// wholeArg returns the name of the ARG that word consists of, optionally in
// double quotes, or "".
func wholeArg(word string) string {
	if len(word) >= 2 && word[0] == '"' && word[len(word)-1] == '"' {
		word = word[1 : len(word)-1]
	}
	if m := reWholeArg.FindStringSubmatch(word); m != nil {
		return m[1] + m[2]
	}
	return ""
}

// usedInPart records that the ARGs in names are used on line as part of a
// longer word.
func (p *parse) usedInPart(names map[string]struct{}, line int) {
	for name := range names {
		if _, ok := p.partial[name]; !ok {
			p.partial[name] = line
		}
	}
}

// keepWholeArgs withdraws the pin target of a reference held in an ARG's
// default when that ARG is also part of a longer word elsewhere: the pin
// would turn "${BASE}-slim" into "img:1@sha256:…-slim" and break the build.
func (p *parse) keepWholeArgs() {
	for i := range p.refs {
		r := &p.refs[i]
		if r.Arg == "" || r.NoEdit != "" || r.Skip != "" {
			continue
		}
		if line, ok := p.partial[r.Arg]; ok {
			r.NoEdit = fmt.Sprintf("ARG %s is also used as part of a longer reference or value on line %d, which a pin in its default would break", r.Arg, line)
			r.Start, r.End = 0, 0
		} else if line, ok := p.inStage[r.Arg]; ok {
			r.NoEdit = fmt.Sprintf("ARG %s is also brought into a stage on line %d, where its value would change with a pin in its default; pin the FROM line instead", r.Arg, line)
			r.Start, r.End = 0, 0
		}
	}
}

// stageArgs records the meta ARGs an ARG instruction inside a stage brings
// into scope (a name without "=", the docker build way to use a meta ARG in
// a stage).
func (p *parse) stageArgs(in instr) {
	for _, word := range in.args() {
		name, _, hasVal := strings.Cut(word, "=")
		if hasVal {
			continue
		}
		if _, meta := p.args[name]; !meta {
			continue
		}
		if p.inStage == nil {
			p.inStage = map[string]int{}
		}
		if _, ok := p.inStage[name]; !ok {
			p.inStage[name] = in.node.StartLine
		}
	}
}

func (p *parse) metaArg(in instr) error {
	// The parser replaces invalid UTF-8 in ARG words, which would leave no
	// way to locate them; and such a value cannot be an image reference.
	if !utf8.ValidString(in.line.text) {
		return fmt.Errorf("%s:%d: ARG before the first FROM is not valid UTF-8 text (%q); fix the Dockerfile", p.name, in.node.StartLine, in.line.text)
	}
	spans := words(in.line.text, in.argsAt, p.escape)
	var raw []string
	for _, s := range spans {
		raw = append(raw, in.line.text[s.start:s.end])
	}
	if !slices.Equal(raw, in.args()) {
		return errDrift(p.name, in.node.StartLine, "ARG's arguments", strings.Join(raw, " "), strings.Join(in.args(), " "))
	}
	for i, word := range raw {
		key, val, hasVal := strings.Cut(word, "=")
		a := p.args[key]
		if a == nil {
			a = &metaArg{}
			p.args[key] = a
		}
		if v, ok := p.buildArgs[key]; ok {
			*a = metaArg{set: true, value: v, buildArg: true}
			continue
		}
		if !hasVal {
			// A declaration without default keeps an earlier value, as in
			// buildkit.
			continue
		}
		res, err := p.expandWord(val)
		if err != nil {
			return fmt.Errorf("%s:%d: ARG %s: %v; fix the Dockerfile so that docker build accepts it", p.name, in.node.StartLine, key, err)
		}
		*a = metaArg{set: true, value: res.Result, missing: slices.Sorted(maps.Keys(res.Unmatched))}
		vs := span{spans[i].start + len(key) + 1, spans[i].end}
		d := &argDefault{line: p.src.lineOf(in.line.pos[spans[i].start])}
		if wholeArg(val) == "" {
			p.usedInPart(res.Matched, d.line)
		}
		a.dflt = d
		if vs.start == vs.end {
			d.noEdit = fmt.Sprintf("ARG %s's default is empty", key)
			continue
		}
		d.line = p.src.lineOf(in.line.pos[vs.start])
		inner := unquote(in.line.text, vs)
		switch {
		case len(res.Matched) > 0 || len(res.Unmatched) > 0:
			d.noEdit = fmt.Sprintf("ARG %s's default is built from other ARGs; write the reference out in the default to have it pinned", key)
		case in.line.text[inner.start:inner.end] != res.Result:
			d.noEdit = fmt.Sprintf("ARG %s's default is written with quotes or escapes inside it; write it plainly to have it pinned", key)
		default:
			start, end, ok := in.line.fileSpan(inner)
			if !ok {
				d.noEdit = fmt.Sprintf("a line continuation splits ARG %s's default; join it onto one line to have it pinned", key)
				continue
			}
			d.start, d.end = start, end
		}
	}
	return nil
}

// expandWord substitutes ARGs in word as buildkit does. Its lexer prints
// invalid UTF-8 to standard error as it meets it, so such a word is refused
// first: it cannot be an image reference anyway.
func (p *parse) expandWord(word string) (shell.ProcessWordResult, error) {
	if !utf8.ValidString(word) {
		return shell.ProcessWordResult{}, fmt.Errorf("%q is not valid UTF-8", word)
	}
	return p.lex.ProcessWordWithMatches(word, p.env())
}

// env returns the values FROM lines are expanded with: the meta ARGs that
// have a value, and builder ARGs given as build args.
func (p *parse) env() shell.EnvGetter {
	var kv []string
	for name := range builderArgs {
		if v, ok := p.buildArgs[name]; ok {
			kv = append(kv, name+"="+v)
		}
	}
	for name, a := range p.args {
		if a.set {
			kv = append(kv, name+"="+a.value)
		}
	}
	return shell.EnvsFromSlice(kv)
}

// noValue says why ARG name has no value, and what to do.
func (p *parse) noValue(name string) string {
	if builderArgs[name] {
		return fmt.Sprintf("%s is set by the builder for each platform, so the reference differs per platform and cannot be pinned as one", name)
	}
	if p.args[name] == nil {
		return fmt.Sprintf("ARG %s is not declared before the first FROM; declare it there with a default (ARG %s=IMAGE:TAG)", name, name)
	}
	return fmt.Sprintf("ARG %s has no default; give it one (ARG %s=IMAGE:TAG) or pass it as a build arg", name, name)
}

// expand sets ref's Value, or Skip, from the FROM image word at sp, and
// locates the token to rewrite: the word itself, or the default of the ARG
// it consists of.
func (p *parse) expand(ref *Ref, line logical, sp span) error {
	ref.Line = p.src.lineOf(line.pos[sp.start])
	word := line.text[sp.start:sp.end]
	if name := wholeArg(word); name != "" {
		return p.expandArg(ref, name)
	}
	res, err := p.expandWord(word)
	if err != nil {
		return fmt.Errorf("%s:%d: FROM %s: %v; fix the Dockerfile so that docker build accepts it", p.name, ref.Line, word, err)
	}
	p.usedInPart(res.Matched, ref.Line)
	if len(res.Unmatched) > 0 {
		ref.Skip = p.noValue(slices.Sorted(maps.Keys(res.Unmatched))[0])
		return nil
	}
	ref.Build = res.Result
	if len(res.Matched) > 0 {
		names := slices.Sorted(maps.Keys(res.Matched))
		ref.Skip = fmt.Sprintf("the reference is built from ARG %s and other text (%s here); to have it pinned, make the whole reference one ARG's default or write it out", strings.Join(names, ", ARG "), res.Result)
		return nil
	}
	ref.Value = res.Result
	p.locateSpan(ref, line, unquote(line.text, sp))
	return nil
}

// expandArg handles a FROM image that is exactly ARG name.
func (p *parse) expandArg(ref *Ref, name string) error {
	ref.Arg = name
	a := p.args[name]
	if a == nil && builderArgs[name] {
		if v, ok := p.buildArgs[name]; ok {
			a = &metaArg{set: true, value: v, buildArg: true}
		}
	}
	switch {
	case a == nil || !a.set:
		ref.Skip = p.noValue(name)
		return nil
	case len(a.missing) > 0:
		ref.Skip = fmt.Sprintf("ARG %s's default uses %s: %s", name, a.missing[0], p.noValue(a.missing[0]))
		return nil
	case a.value == "":
		ref.Skip = fmt.Sprintf("ARG %s is empty; give it a default (ARG %s=IMAGE:TAG) or pass it as a build arg", name, name)
		return nil
	}
	ref.Value, ref.Build = a.value, a.value
	if a.buildArg {
		ref.NoEdit = fmt.Sprintf("the value comes from build arg %s, not from the file; pin it where the build arg is set", name)
		return nil
	}
	ref.Line = a.dflt.line
	ref.NoEdit = a.dflt.noEdit
	ref.Start, ref.End = a.dflt.start, a.dflt.end
	return nil
}
