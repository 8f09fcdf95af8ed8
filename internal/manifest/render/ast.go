package render

// Template statements.
type node interface{}

type textNode struct{ s string }

type outputNode struct {
	e    expr
	line int
}

type ifNode struct {
	conds  []expr
	bodies [][]node
	els    []node
}

type forNode struct {
	targets []string
	iter    expr
	cond    expr // optional "if" filter of the loop
	body    []node
	els     []node
	line    int
}

type setNode struct {
	targets []string
	attr    string // "set ns.attr = e": targets[0] is the namespace
	e       expr
	line    int
}

// setBlockNode is "{% set x %}...{% endset %}".
type setBlockNode struct {
	target  string
	body    []node
	filters []*filterExpr // applied to the captured text, innermost first
	line    int
}

type macroNode struct {
	name     string
	params   []string
	defaults []expr // same length as params; nil = required
	body     []node
	line     int
}

// Expressions.
type expr interface{ ln() int }

type pos struct{ line int }

func (p pos) ln() int { return p.line }

type constExpr struct {
	pos
	v any
}

type nameExpr struct {
	pos
	name string
}

type listExpr struct {
	pos
	items []expr
	tuple bool
}

type dictExpr struct {
	pos
	keys, vals []expr
}

type attrExpr struct {
	pos
	obj  expr
	name string
}

type itemExpr struct {
	pos
	obj, key expr
}

type sliceExpr struct {
	pos
	obj, lo, hi, step expr // lo/hi/step may be nil
}

type kwarg struct {
	name string
	e    expr
}

type callExpr struct {
	pos
	fn     expr
	args   []expr
	kwargs []kwarg
}

type filterExpr struct {
	pos
	e      expr // nil inside filter blocks: applied to captured text
	name   string
	args   []expr
	kwargs []kwarg
}

type testExpr struct {
	pos
	e      expr
	name   string
	args   []expr
	negate bool
}

type unaryExpr struct {
	pos
	op string // "-", "+", "not"
	e  expr
}

type binExpr struct {
	pos
	op   string // + - * / // % ** ~ and or
	l, r expr
}

type compareExpr struct {
	pos
	first expr
	ops   []string // == != < > <= >= in "not in"
	rest  []expr
}

type condExpr struct {
	pos
	cond, a, b expr // b may be nil (Jinja yields undefined)
}
