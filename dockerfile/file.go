package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/freshpull/freshpull/reference"
)

// File is a parsed Dockerfile and the external image references in it.
type File struct {
	// Name is the path the file was read from, and is written back to by
	// [ModeWrite] and [ModeUpdate]. It prefixes every message about the file.
	Name string
	// Src is the file's content as read.
	Src []byte
	// Refs are the external image references in the order the build meets
	// them.
	Refs []Ref
	// Stages are the file's stages in order: what each builds on.
	Stages []Stage

	buildArgs map[string]string
}

// Instructions that can name an image, as [Ref.Instruction] spells them.
const (
	InstructionFrom     = "FROM"
	InstructionCopyFrom = "COPY --from"
	InstructionRunMount = "RUN --mount"
)

// Ref is one external image reference in a Dockerfile.
type Ref struct {
	// Line is the 1-based line of the token that holds the reference: the
	// ARG line when the reference is an ARG's default.
	Line int
	// InstructionLine is the line where the instruction using the reference
	// begins (the FROM line when Line is an ARG's).
	InstructionLine int
	// Instruction is InstructionFrom, InstructionCopyFrom or
	// InstructionRunMount.
	Instruction string
	// Stage is the stage the instruction belongs to: its name as written in
	// "AS name", or its index ("0", "1", …) when it has no name.
	Stage string
	// Platform is FROM's --platform value as written, or "".
	Platform string
	// Text is the image as written in the instruction: "ubuntu:22.04",
	// "${BASE}", "golang:${GO_VERSION}".
	Text string
	// Arg names the ARG when Text is exactly one ARG ("$BASE", "${BASE}").
	Arg string
	// Value is the reference the build uses once ARGs are substituted,
	// spelled as written ("ubuntu:22.04"); "" when Skip is set.
	Value string
	// Reference is Value parsed; zero when Skip is set.
	Reference reference.Reference
	// Skip says why the reference cannot be resolved without more values
	// ("" when it can).
	Skip string
	// NoEdit says why the reference, though resolvable, cannot be rewritten
	// in the file ("" when Start and End locate it).
	NoEdit string
	// Start and End are the byte offsets in Src of the token to rewrite
	// (Src[Start:End] is Value as written, without quotes). Both are 0 when
	// NoEdit or Skip is set.
	Start, End int
	// Build is the reference the build uses once every ARG is substituted,
	// also when Skip is set only because the reference is made of ARGs and
	// other text ("golang:${GO_VERSION}"): a pin cannot be written there,
	// but a build can resolve it. "" when an ARG has no value.
	Build string
	// UseStart and UseEnd are the byte offsets in Src of the image word in
	// the instruction itself: for a FROM, the word as written ("${BASE}",
	// quotes included) even when the pin would go to an ARG's default. A
	// build replaces it to make the instruction name another image without
	// changing any ARG. Both are 0 when the word cannot be located (a line
	// continuation splits it, or quotes or escapes are inside a --from).
	UseStart, UseEnd int
}

// Stage is one FROM of a Dockerfile.
type Stage struct {
	// Name is the stage's name as written after AS, or "".
	Name string
	// Base is what the stage builds on with ARGs substituted: an image
	// reference, an earlier stage's name, or "scratch"; "" when an ARG has
	// no value.
	Base string
	// Ref is the index in [File.Refs] of the stage's base image, or -1
	// when it builds on a stage or on scratch.
	Ref int
}

// Pinned reports whether the reference names a digest.
func (r Ref) Pinned() bool { return !r.Reference.IsZero() && r.Reference.Digest() != "" }

// DigestOnly reports whether the reference is pinned by digest alone
// ("img@sha256:…"): there is no tag whose staleness could be checked.
func (r Ref) DigestOnly() bool { return r.Pinned() && r.Reference.Tag() == "" }

// ParseFile reads and parses the Dockerfile at path; see [Parse].
func ParseFile(path string, buildArgs map[string]string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, buildArgs)
}

// Parse finds the external image references in the Dockerfile src. name is
// used in messages and as the path to write back to. buildArgs override the
// defaults of ARGs declared before the first FROM, as docker build's
// --build-arg does.
//
// A reference that cannot be resolved (an ARG without a value, a reference
// only partly made of ARGs) is returned with Skip set; an invalid Dockerfile,
// or an image reference that does not parse, is an error naming the line.
func Parse(name string, src []byte, buildArgs map[string]string) (*File, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, parseError(name, err)
	}
	p := &parse{
		name:      name,
		src:       newSource(src, res.EscapeToken),
		escape:    res.EscapeToken,
		lex:       shell.NewLex(res.EscapeToken),
		buildArgs: buildArgs,
		args:      map[string]*metaArg{},
		partial:   map[string]int{},
	}
	p.stageNames = stageNames(res.AST.Children)
	for _, node := range res.AST.Children {
		if err := p.instruction(node); err != nil {
			return nil, err
		}
	}
	p.keepWholeArgs()
	return &File{Name: name, Src: src, Refs: p.refs, Stages: p.stageList, buildArgs: maps.Clone(buildArgs)}, nil
}

func parseError(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %v; fix the Dockerfile so that docker build accepts it", name, le.Locations[0][0].Start.Line, le.Unwrap())
	}
	return fmt.Errorf("%s: %v; fix the Dockerfile so that docker build accepts it", name, err)
}

// stageNames returns the lower-cased "AS" names of all stages: COPY --from
// and RUN --mount from= name a stage when any stage has that name, as in
// buildkit (stage names are case-insensitive).
func stageNames(nodes []*parser.Node) map[string]bool {
	names := map[string]bool{}
	for _, n := range nodes {
		if !strings.EqualFold(n.Value, "from") {
			continue
		}
		var args []string
		for a := n.Next; a != nil; a = a.Next {
			args = append(args, a.Value)
		}
		if len(args) == 3 && strings.EqualFold(args[1], "as") {
			names[strings.ToLower(args[2])] = true
		}
	}
	return names
}

// parse holds the state of one pass over a Dockerfile.
type parse struct {
	name      string
	src       *source
	escape    rune
	lex       *shell.Lex
	buildArgs map[string]string

	args map[string]*metaArg // ARGs declared before the first FROM
	// partial holds, for each meta ARG used as part of a longer word (in a
	// FROM image or another ARG's default), the line of its first such use.
	partial map[string]int
	// inStage holds, for each meta ARG brought into a stage (ARG NAME
	// after FROM), the line that does it: RUN or LABEL there see the
	// meta ARG's value, so a pin in its default would change them too.
	inStage    map[string]int
	seenFrom   bool
	stages     []string // lower-cased names of the stages so far, "" if unnamed
	stage      string   // how Ref.Stage names the current stage
	stageNames map[string]bool
	stageList  []Stage
	refs       []Ref
}

func (p *parse) instruction(node *parser.Node) error {
	kind := strings.ToLower(node.Value)
	switch kind {
	case "arg", "from", "copy", "run":
	default:
		return nil
	}
	line := p.src.logicalLine(node.StartLine)
	if line.text != node.Original {
		return errDrift(p.name, node.StartLine, "the instruction", line.text, node.Original)
	}
	// The parser splits the line with trailing white space trimmed.
	line.text = strings.TrimRightFunc(line.text, unicode.IsSpace)
	flags, argsAt := splitInstruction(line.text, p.escape)
	var values []string
	for _, f := range flags {
		values = append(values, f.value)
	}
	if !slices.Equal(values, node.Flags) {
		return errDrift(p.name, node.StartLine, "the flags", strings.Join(values, " "), strings.Join(node.Flags, " "))
	}
	in := instr{node: node, line: line, flags: flags, argsAt: argsAt}
	switch kind {
	case "arg":
		if !p.seenFrom {
			return p.metaArg(in)
		}
		p.stageArgs(in)
	case "from":
		p.seenFrom = true
		return p.from(in)
	case "copy":
		return p.copyFrom(in)
	case "run":
		return p.runMount(in)
	}
	return nil
}

// instr is one instruction being examined.
type instr struct {
	node   *parser.Node
	line   logical
	flags  []builderFlag
	argsAt int
}

// args returns the parser's arguments of the instruction.
func (in instr) args() []string {
	var out []string
	for a := in.node.Next; a != nil; a = a.Next {
		out = append(out, a.Value)
	}
	return out
}

func (p *parse) from(in instr) error {
	spans := fields(in.line.text, in.argsAt)
	var raw []string
	for _, s := range spans {
		raw = append(raw, in.line.text[s.start:s.end])
	}
	if !slices.Equal(raw, in.args()) {
		return errDrift(p.name, in.node.StartLine, "FROM's arguments", strings.Join(raw, " "), strings.Join(in.args(), " "))
	}
	if len(spans) != 1 && (len(spans) != 3 || !strings.EqualFold(raw[1], "as")) {
		return fmt.Errorf("%s:%d: FROM needs IMAGE [AS NAME], got %q; fix the Dockerfile so that docker build accepts it", p.name, in.node.StartLine, strings.Join(raw, " "))
	}
	label := ""
	if len(spans) == 3 {
		label = raw[2]
	}
	earlier := slices.Clone(p.stages)
	p.stages = append(p.stages, strings.ToLower(label))
	p.stage = label
	if label == "" {
		p.stage = strconv.Itoa(len(earlier))
	}

	ref := Ref{
		InstructionLine: in.node.StartLine,
		Instruction:     InstructionFrom,
		Stage:           p.stage,
		Text:            raw[0],
	}
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f.value, "--platform="); ok {
			ref.Platform = v
		}
	}
	if err := p.expand(&ref, in.line, spans[0]); err != nil {
		return err
	}
	if start, end, ok := in.line.fileSpan(spans[0]); ok {
		ref.UseStart, ref.UseEnd = start, end
	}
	stage := Stage{Name: label, Base: ref.Build, Ref: -1}
	// Build, not Value: a FROM made of ARGs and text can name a stage too.
	if ref.Build != "" && (strings.EqualFold(ref.Build, "scratch") || slices.Contains(earlier, strings.ToLower(ref.Build))) {
		p.stageList = append(p.stageList, stage)
		return nil
	}
	stage.Ref = len(p.refs)
	p.stageList = append(p.stageList, stage)
	return p.add(ref)
}

func (p *parse) copyFrom(in instr) error {
	for _, f := range in.flags {
		v, ok := strings.CutPrefix(f.value, "--from=")
		if !ok || v == "" || p.isStage(v) {
			continue
		}
		ref := Ref{
			InstructionLine: in.node.StartLine,
			Instruction:     InstructionCopyFrom,
			Stage:           p.stage,
			Text:            v,
			Value:           v,
		}
		if strings.Contains(v, "$") {
			ref.Value = ""
			ref.Skip = "COPY --from does not expand ARGs (docker build rejects it); name the image in a FROM stage and copy from that stage"
			ref.Line = p.src.lineOf(in.line.pos[f.raw.start])
			p.refs = append(p.refs, ref)
			continue
		}
		p.locateFlag(&ref, in.line, f.raw)
		if err := p.add(ref); err != nil {
			return err
		}
	}
	return nil
}

func (p *parse) runMount(in instr) error {
	for _, f := range in.flags {
		opts, ok := strings.CutPrefix(f.value, "--mount=")
		if !ok {
			continue
		}
		m, err := mountFrom(in.line.text, f, opts)
		if err != nil {
			return fmt.Errorf("%s:%d: RUN --mount=%s: %v; fix the Dockerfile so that docker build accepts it", p.name, in.node.StartLine, opts, err)
		}
		if m.value == "" || p.isStage(m.value) {
			continue
		}
		ref := Ref{
			InstructionLine: in.node.StartLine,
			Instruction:     InstructionRunMount,
			Stage:           p.stage,
			Text:            m.value,
			Value:           m.value,
			Line:            p.src.lineOf(in.line.pos[f.raw.start]),
		}
		switch {
		case strings.Contains(strings.TrimSuffix(m.value, "$"), "$"):
			ref.Value = ""
			ref.Skip = "RUN --mount from= does not expand ARGs (docker build rejects it); name the image in a FROM stage and mount from that stage"
			p.refs = append(p.refs, ref)
			continue
		case m.noEdit != "":
			ref.NoEdit = m.noEdit
		default:
			p.locateSpan(&ref, in.line, m.raw)
		}
		if err := p.add(ref); err != nil {
			return err
		}
	}
	return nil
}

// isStage reports whether a COPY --from or RUN --mount from= value names a
// stage rather than an image: a stage name, a stage index, or scratch.
func (p *parse) isStage(v string) bool {
	if _, err := strconv.Atoi(v); err == nil {
		return true
	}
	return p.stageNames[strings.ToLower(v)] || strings.EqualFold(v, "scratch")
}

// locateFlag sets ref's token from the raw span of a --from= flag.
func (p *parse) locateFlag(ref *Ref, line logical, raw span) {
	const prefix = "--from="
	if !strings.HasPrefix(line.text[raw.start:raw.end], prefix) {
		ref.Line = p.src.lineOf(line.pos[raw.start])
		ref.NoEdit = "the flag is written with quotes or escapes; write it as --from=IMAGE to have it pinned"
		return
	}
	p.locateSpan(ref, line, unquote(line.text, span{raw.start + len(prefix), raw.end}))
}

// locateSpan sets ref's token to sp if sp holds exactly ref.Value, literally
// and on one line.
func (p *parse) locateSpan(ref *Ref, line logical, sp span) {
	ref.Line = p.src.lineOf(line.pos[sp.start])
	if line.text[sp.start:sp.end] != ref.Value {
		ref.NoEdit = "the reference is written with quotes or escapes inside it; write it plainly to have it pinned"
		return
	}
	start, end, ok := line.fileSpan(sp)
	if !ok {
		ref.NoEdit = "a line continuation splits the reference; join it onto one line to have it pinned"
		return
	}
	ref.Start, ref.End = start, end
}

// add parses ref.Value and records ref.
func (p *parse) add(ref Ref) error {
	if ref.Instruction != InstructionFrom {
		// COPY --from and RUN --mount from= expand no ARGs: the token to
		// pin is the word the instruction uses.
		ref.Build, ref.UseStart, ref.UseEnd = ref.Value, ref.Start, ref.End
	}
	if ref.Skip == "" {
		r, err := reference.Parse(ref.Value)
		if err != nil {
			return fmt.Errorf("%s:%d: %s %s: %v", p.name, ref.Line, ref.Instruction, ref.Text, err)
		}
		ref.Reference = r
	}
	p.refs = append(p.refs, ref)
	return nil
}

// unquote returns the span inside sp when the text there is wholly enclosed
// in one pair of matching quotes, else sp.
func unquote(text string, sp span) span {
	if sp.end-sp.start >= 2 {
		q := text[sp.start]
		if (q == '"' || q == '\'') && text[sp.end-1] == q && !strings.ContainsRune(text[sp.start+1:sp.end-1], rune(q)) {
			return span{sp.start + 1, sp.end - 1}
		}
	}
	return sp
}
