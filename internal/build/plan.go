package build

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/shoal-project/shoal/internal/errdefs"
)

// Plan is a parsed Dockerfile ready to build: the stages up to the
// target, each one's base resolved to an image or an earlier stage.
type Plan struct {
	Stages   []Stage
	MetaArgs []instructions.ArgCommand
	Lex      *shell.Lex
	// Steps is the N of "Step n/N": Docker counts every instruction of
	// the Dockerfile, meta ARGs and FROMs included, even past the target.
	Steps int
}

// Stage is one FROM and its instructions.
type Stage struct {
	instructions.Stage
	// Base is the image the stage starts from ("scratch" for none), when
	// BaseStage is -1; otherwise the index of the earlier stage it
	// continues.
	Base      string
	BaseStage int
}

// ParsePlan parses a Dockerfile and picks the stages to build: all of them,
// or those up to target. A Dockerfile that does not parse, an unknown
// target, a FROM that names a later stage, or an instruction this builder
// cannot do is an errdefs.Invalid error, before anything is built.
func ParsePlan(dockerfile []byte, target string, buildArgs map[string]string) (*Plan, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, errdefs.Invalid("dockerfile parse error: %v", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, errdefs.Invalid("dockerfile parse error: %v", err)
	}
	if len(stages) == 0 {
		return nil, errdefs.Invalid("the Dockerfile has no FROM instruction")
	}
	p := &Plan{MetaArgs: metaArgs, Lex: shell.NewLex(res.EscapeToken), Steps: len(metaArgs)}
	for _, s := range stages {
		p.Steps += 1 + len(s.Commands)
	}
	last := len(stages) - 1
	if target != "" {
		i, ok := instructions.HasStage(stages, target)
		if !ok {
			return nil, errdefs.Invalid("target: stage %q not found in the Dockerfile", target)
		}
		last = i
	}
	metaEnv := shell.EnvsFromSlice(MetaArgEnv(metaArgs, buildArgs))
	for i, s := range stages[:last+1] {
		base, _, err := p.Lex.ProcessWord(s.BaseName, metaEnv)
		if err != nil {
			return nil, errdefs.Invalid("FROM %s: %v", s.BaseName, err)
		}
		if base == "" {
			return nil, errdefs.Invalid("FROM %s: the base image name is empty once build args are applied", s.BaseName)
		}
		st := Stage{Stage: s, Base: base, BaseStage: -1}
		if j, ok := instructions.HasStage(stages[:i], base); ok {
			st.BaseStage = j
		}
		for _, c := range s.Commands {
			if err := supported(c); err != nil {
				return nil, err
			}
		}
		p.Stages = append(p.Stages, st)
	}
	return p, nil
}

// MetaArgEnv is the values of the ARGs before the first FROM, build args
// overriding their defaults; they can be used in FROM lines.
func MetaArgEnv(metaArgs []instructions.ArgCommand, buildArgs map[string]string) []string {
	var env []string
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				env = append(env, kv.Key+"="+v)
			} else if kv.Value != nil {
				env = append(env, kv.Key+"="+*kv.Value)
			}
		}
	}
	return env
}

// supported refuses the instruction forms that BuildKit's parser accepts
// and this builder cannot carry out, so a build never quietly does less
// than its Dockerfile says.
func supported(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			return errdefs.Invalid("%s: RUN --%s is not supported by this builder", c.String(), c.FlagsUsed[0])
		}
		if len(c.Files) > 0 {
			return errdefs.Invalid("%s: here-documents are not supported by this builder", c.String())
		}
	case *instructions.CopyCommand:
		if c.Parents || len(c.ExcludePatterns) > 0 || len(c.SourceContents) > 0 {
			return errdefs.Invalid("%s: COPY --parents, --exclude and here-documents are not supported by this builder", c.String())
		}
	case *instructions.AddCommand:
		if len(c.ExcludePatterns) > 0 || len(c.SourceContents) > 0 || c.Checksum != "" {
			return errdefs.Invalid("%s: ADD --exclude, --checksum and here-documents are not supported by this builder", c.String())
		}
		for _, src := range c.SourcePaths {
			if isRemote(src) {
				return errdefs.Invalid("%s: ADD from a URL or git repository is not supported by this builder: download it in a RUN step", c.String())
			}
		}
	case *instructions.EntrypointCommand:
		if len(c.Files) > 0 {
			return errdefs.Invalid("%s: here-documents are not supported by this builder", c.String())
		}
	}
	return nil
}

func isRemote(src string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://"} {
		if strings.HasPrefix(src, p) {
			return true
		}
	}
	return false
}

// StageIndex resolves a COPY --from value: a stage name, or a stage's
// index; ok is false when it names an image instead.
func StageIndex(stages []Stage, before int, from string) (int, bool) {
	if n, err := strconv.Atoi(from); err == nil {
		if n >= 0 && n < before {
			return n, true
		}
		return 0, false
	}
	for i, s := range stages[:before] {
		if strings.EqualFold(s.Name, from) {
			return i, true
		}
	}
	return 0, false
}

// code is an instruction as written in the Dockerfile.
func code(c instructions.Command) string { return fmt.Sprint(c) }

// StepLine is how Docker announces a step: "Step 2/7 : RUN make".
func StepLine(n, total int, code string) string {
	return fmt.Sprintf("Step %d/%d : %s\n", n, total, code)
}
