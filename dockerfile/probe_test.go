package dockerfile

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func TestProbe(t *testing.T) {
	r, err := parser.Parse(strings.NewReader("FROM a\n"))
	t.Log(r, err, shell.NewLex('\\'))
}
