package mapping

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/dmfpipe/dmfpipe/transform"
)

// Names an expression's environment holds besides source columns.
const (
	envSrc = "src"
	envRow = "row"
	envCol = "col"
)

// exprCheckEnv types the expression environment at compile time.
var exprCheckEnv = map[string]any{
	envSrc: map[string]string{},
	envRow: map[string]string{},
	envCol: func(string) string { return "" },
}

// columnPatcher rewrites plain identifiers and col("literal") calls into src["name"],
// collecting the column names so that Bind can check them against the header.
type columnPatcher struct {
	lets map[string]bool
	cols []string
}

func (p *columnPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		p.lets[n.Name] = true
	case *ast.IdentifierNode:
		switch n.Value {
		case envSrc, envRow, envCol:
			return
		}
		if p.lets[n.Value] {
			return
		}
		p.cols = append(p.cols, n.Value)
		ast.Patch(node, srcMember(n.Value))
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == envCol && len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok {
				p.cols = append(p.cols, s.Value)
				ast.Patch(node, srcMember(s.Value))
			}
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == envSrc {
			if s, ok := n.Property.(*ast.StringNode); ok {
				p.cols = append(p.cols, s.Value)
			}
		}
	}
}

func srcMember(name string) *ast.MemberNode {
	return &ast.MemberNode{Node: &ast.IdentifierNode{Value: envSrc}, Property: &ast.StringNode{Value: name}}
}

// letCollector records let-declared names before columnPatcher runs: ast.Walk visits a
// declarator after the identifiers that use it.
type letCollector struct{ lets map[string]bool }

func (l letCollector) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.VariableDeclaratorNode); ok {
		l.lets[n.Name] = true
	}
}

func compileExpr(src string) (*vm.Program, []string, error) {
	lets := map[string]bool{}
	p := &columnPatcher{lets: lets}
	prog, err := expr.Compile(src, expr.Env(exprCheckEnv), expr.Patch(letCollector{lets}), expr.Patch(p))
	if err != nil {
		return nil, nil, err
	}
	return prog, p.cols, nil
}

// exprMessage is an expr-lang error on one line: its message and column, without the
// source excerpt expr adds.
func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Column > 0 {
			return fmt.Sprintf("%s (at column %d)", fe.Message, fe.Column+1)
		}
		return fe.Message
	}
	return err.Error()
}

// exprString turns an expression result into a field value.
func exprString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		if v {
			return transform.Yes, nil
		}
		return transform.No, nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	default:
		return "", fmt.Errorf("expression returned %T, not a value", v)
	}
}
