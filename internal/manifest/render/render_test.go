package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testRenderer(t *testing.T, defines map[string]any) *Renderer {
	t.Helper()
	return New(Options{
		Defines:    defines,
		Env:        map[string]string{"HOME": "/home/u", "EDMM": "1", "EMPTY": ""},
		RuntimeDir: func(libc string) (string, error) { return "/opt/nacre/runtime/" + libc, nil },
		PkgLibDir:  "/opt/nacre",
		Python:     "nacre-test-no-such-python",
	})
}

func TestRender(t *testing.T) {
	defs := map[string]any{
		"log_level":   "error",
		"arch_libdir": "/lib/x86_64-linux-gnu",
		"sgx":         true,
		"items":       []string{"b", "a", "c"},
		"empty":       "",
		"n":           7,
	}
	r := testRenderer(t, defs)
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Render("t.manifest.template", []byte(c.in))
			if err != nil {
				t.Fatalf("Render(%q): %v", c.in, err)
			}
			if string(got) != c.want {
				t.Errorf("Render(%q)\n got: %q\nwant: %q", c.in, got, c.want)
			}
		})
	}
}

var renderCases = []struct{ name, in, want string }{
	{"text", "hello\n", "hello\n"},
	{"trailing newline kept", "a = 1\n\n", "a = 1\n\n"},
	{"crlf normalised", "a\r\nb\r\n", "a\nb\n"},
	{"var", `loader.log_level = "{{ log_level }}"`, `loader.log_level = "error"`},
	{"libos", `{{ gramine.libos }}`, `/opt/nacre/libsysdb.so`},
	{"pkglibdir", `{{ gramine.pkglibdir }}`, `/opt/nacre`},
	{"runtimedir call", `uri = "file:{{ gramine.runtimedir() }}"`, `uri = "file:/opt/nacre/runtime/glibc"`},
	{"runtimedir kw", `{{ gramine.runtimedir(libc='musl') }}`, `/opt/nacre/runtime/musl`},
	{"runtimedir str", `{{ gramine.runtimedir }}`, `/opt/nacre/runtime/glibc`},
	{"runtimedir div", `{{ gramine.runtimedir / 'libc.so.6' }}`, `/opt/nacre/runtime/glibc/libc.so.6`},
	{"runtimedir call div", `{{ gramine.runtimedir() / "x" / "y" }}`, `/opt/nacre/runtime/glibc/x/y`},
	{"item access", `{{ gramine['pkglibdir'] }}`, `/opt/nacre`},
	{"env attr", `{{ env.HOME }}`, `/home/u`},
	{"env item", `{{ env['HOME'] }}`, `/home/u`},
	{"env get default", `{{ env.get('NOPE', 'dflt') }}`, `dflt`},
	{"env get none", `{{ env.get('NOPE') }}`, `None`},
	{"inline if", `sgx.edmm_enable = {{ 'true' if env.get('EDMM', '0') == '1' else 'false' }}`, `sgx.edmm_enable = true`},
	{"inline if false", `{{ 'a' if empty else "b" }}`, `b`},
	{"if elif else", "{% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %}", "mid"},
	{"if not", "{% if not sgx %}no{% else %}yes{% endif %}", "yes"},
	{"define true", "{{ sgx }}", "True"},
	{"for loop", "{% for x in items %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "1:b,2:a,3:c"},
	{"for first/length", "{% for x in items %}{% if loop.first %}[{{ loop.length }}]{% endif %}{{ loop.index0 }}{{ loop.revindex }}{% endfor %}", "[3]031221"},
	{"for else", "{% for x in [] %}x{% else %}none{% endfor %}", "none"},
	{"for filter", "{% for x in items if x != 'a' %}{{ x }}{{ loop.index }}{% endfor %}", "b1c2"},
	{"for unpack", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;"},
	{"for scope", "{% set x = 1 %}{% for i in [1,2] %}{% set x = i %}{% endfor %}{{ x }}", "1"},
	{"set", "{% set a = 'x' ~ 1 ~ none %}{{ a }}", "x1None"},
	{"set tuple", "{% set a, b = 1, 2 %}{{ a + b }}", "3"},
	{"set block", "{% set blk %}in {{ n }}{% endset %}[{{ blk }}]", "[in 7]"},
	{"comment", "a{# comment {{ x }} #}b", "ab"},
	{"ws control", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c", "abc"},
	{"ws var", "x {{- 1 -}} y", "x1y"},
	{"ws comment", "a \n{#- c -#}\n b", "ab"},
	{"raw", "{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}"},
	{"raw ws", "a {%- raw -%}  {{x}}  {%- endraw -%}  b", "a{{x}}b"},
	{"strings", `{{ "dq" ~ 'sq' ~ "it's" ~ '\n'|length }}`, "dqsqit's1"},
	{"list literal", `{{ [1, 'a', none, true] }}`, `[1, 'a', None, True]`},
	{"tuple literal", `{{ (1, "a") }} {{ (1,) }}`, `(1, 'a') (1,)`},
	{"dict literal", `{{ {'a': 1, "b": [2]} }}`, `{'a': 1, 'b': [2]}`},
	{"arith", `{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ -7 // 2 }} {{ 1.5 + 1 }} {{ 4 / 2 }}`, `7 3 3.5 1 1024 -4 2.5 2.0`},
	{"concat list", `{{ [1] + [2] }}`, `[1, 2]`},
	{"string mult", `{{ 'ab' * 3 }}`, `ababab`},
	{"compare chain", `{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' != 'b' }} {{ 2 >= 2 }}`, `True False True True`},
	{"in", `{{ 'a' in items }} {{ 'z' not in items }} {{ 'ell' in 'hello' }} {{ 'HOME' in env }}`, `True True True True`},
	{"and or", `{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }}|{{ not 0 }}`, `x y |True`},
	{"is defined", `{{ foo is defined }} {{ log_level is defined }} {{ foo is not defined }} {{ env.NOPE is defined }}`, `False True True False`},
	{"guarded undefined", `{% if foo is defined and foo %}x{% else %}y{% endif %}`, `y`},
	{"tests", `{{ n is odd }} {{ n is divisibleby 7 }} {{ none is none }} {{ n is number }} {{ 'a' is string }} {{ items is iterable }} {{ n is eq(7) }}`, `True True True True True True True`},
	{"default", `{{ foo | default('d') }} {{ log_level | d('x') }} {{ empty | default('e', true) }} {{ foo|default }}.`, `d error e .`},
	{"join", `{{ items | join(':') }} {{ items|join }}`, `b:a:c bac`},
	{"sort join", `{{ items | sort | join(',') }} {{ items|sort(reverse=true)|first }}`, `a,b,c c`},
	{"replace", `{{ "a-b-c" | replace("-", "+") }} {{ "aaa"|replace("a","b",2) }}`, `a+b+c bba`},
	{"case", `{{ "MiX" | lower }} {{ "MiX" | upper }} {{ "hello world"|title }} {{ "hELLO"|capitalize }}`, `mix MIX Hello World Hello`},
	{"trim", `[{{ "  x \n" | trim }}] [{{ "xxaxx"|trim("x") }}]`, `[x] [a]`},
	{"list length", `{{ "abc" | list }} {{ items | length }} {{ "héllo"|length }} {{ items|count }}`, `['a', 'b', 'c'] 3 5 3`},
	{"string filter", `{{ (1 | string) ~ 2 }} {{ gramine.pkglibdir | string }}`, `12 /opt/nacre`},
	{"int float", `{{ "42"|int + 1 }} {{ "x"|int(5) }} {{ "1.5"|float }} {{ 3|float }}`, `43 5 1.5 3.0`},
	{"unique reverse", `{{ [3,1,3,2]|unique|list }} {{ [1,2,3]|reverse|list }} {{ "abc"|reverse }}`, `[3, 1, 2] [3, 2, 1] cba`},
	{"map select", `{{ ['A','B']|map('lower')|join }} {{ [1,0,2]|select|list }} {{ [1,2,3,4]|reject('odd')|list }}`, `ab [1, 2] [2, 4]`},
	{"map attribute", `{{ [{'n': 1}, {'n': 2}]|map(attribute='n')|list }} {{ [{'n': 1}, {'n': 2}]|selectattr('n', 'eq', 2)|list }}`, `[1, 2] [{'n': 2}]`},
	{"min max sum", `{{ [3,1,2]|min }} {{ [3,1,2]|max }} {{ [3,1,2]|sum }}`, `1 3 6`},
	{"tojson", `{{ {'b': 'x<y', 'a': [1, 2.5, none, true]}|tojson }} {{ "é'"|tojson }}`, `{"a": [1, 2.5, null, true], "b": "x\u003cy"} "\u00e9\u0027"`},
	{"indent", `{{ "a\nb\n\nc"|indent(2) }}`, "a\n  b\n\n  c"},
	{"format filter", `{{ "%s-%d"|format("x", 3) }} {{ "%s%%" % 5 }} {{ "{}/{name}".format(1, name="n") }}`, `x-3 5% 1/n`},
	{"str methods", `{{ "a,b,c".split(",") }} {{ " a  b ".split() }} {{ "abc".startswith("ab") }} {{ "abc".endswith(("x", "c")) }} {{ "a/b/c".rsplit("/", 1) }}`, `['a', 'b', 'c'] ['a', 'b'] True True ['a/b', 'c']`},
	{"str methods 2", `{{ "/".join(["a", "b"]) }} {{ "  x ".strip() }} {{ "xay".lstrip("x") }} {{ "Abc".lower() }} {{ "abc".replace("b", "B") }} {{ "abc".upper() }} {{ "abcb".find("b") }} {{ "abcb".count("b") }}`, `a/b x ay abc aBc ABC 1 2`},
	{"slices", `{{ "hello"[1:3] }} {{ [1,2,3,4][::2] }} {{ "abc"[-1] }} {{ [1,2,3][-2:] }} {{ "abc"[::-1] }}`, `el [1, 3] c [2, 3] cba`},
	{"item attr fallback", `{{ {'a': {'b': 'c'}}.a.b }} {{ [10, 20].1 }} {{ items[0] }}`, `c 20 b`},
	{"loop cycle", `{% for i in [1,2,3] %}{{ loop.cycle('o', 'e') }}{% endfor %}`, `oeo`},
	{"range", `{% for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 7, 2)|list }}`, `012 [1, 3, 5]`},
	{"nested for", `{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}`, `1x11y21|2x12y22|`},
	{"macro", `{% macro m(a, b='d') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b='x') }}`, `<1d><2x>`},
	{"float repr", `{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 1e-5 }}`, `0.30000000000000004 1e+20 1.0 1e-05`},
	{"path methods", `{{ gramine.pkglibdir.name }} {{ gramine.pkglibdir.parent }} {{ (gramine.pkglibdir / 'a.txt').suffix }} {{ gramine.libos.stem }}`, `nacre /opt .txt libsysdb`},
	{"dict methods", `{{ {'a': 1}.get('a') }} {{ {'a': 1}.keys()|list }} {{ {'a': 1}.values()|list }}`, `1 ['a'] [1]`},
	{"list append", `{% set l = [] %}{% set _ = l.append(1) %}{{ l }}`, `[1]`},
	{"adjacent strings", `{{ "a" 'b' }}`, `ab`},
	{"unicode", `ünïcode {{ "ß" }}`, `ünïcode ß`},
	{"escape explicit", `{{ "<a>"|e }} {{ "<a>" }}`, `&lt;a&gt; <a>`},
	{"if no else undefined ok when true", `{{ 'x' if true }}`, `x`},
	{"namespace", `{% set ns = namespace(n=0, s='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}`, `6 123`},
	{"dictsort", `{{ {'b': 1, 'a': 2}|dictsort }}`, `[('a', 2), ('b', 1)]`},
	{"numbers", `{{ 1_000 }} {{ 0.5 }} {{ -3 }} {{ +3 }} {{ 10 - -2 }}`, `1000 0.5 -3 3 12`},
	{"string escapes", `{{ "a\tb\\c\"d" }} {{ '\x41\u00e9' }}`, "a\tb\\c\"d A\u00e9"},
	{"filter precedence", `{{ -1|abs }} {{ "a" ~ "b"|upper }} {{ not true is false }}`, `1 aB True`},
}

func TestRenderErrors(t *testing.T) {
	r := testRenderer(t, map[string]any{"defined_var": "v"})
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Render("app.manifest.template", []byte(c.in))
			if err == nil {
				t.Fatalf("Render(%q) succeeded, want error", c.in)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is %T, want *render.Error", err, err)
			}
			if re.File != "app.manifest.template" || re.Line != c.line {
				t.Errorf("error at %s:%d, want app.manifest.template:%d (%v)", re.File, re.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), c.sub) {
				t.Errorf("error %q does not contain %q", err, c.sub)
			}
			if c.undef != "" {
				if !errors.Is(err, ErrUndefined) || re.Name != c.undef {
					t.Errorf("error %v: Is(ErrUndefined)=%v Name=%q, want name %q", err, errors.Is(err, ErrUndefined), re.Name, c.undef)
				}
			}
			if c.line > 0 && !strings.HasPrefix(err.Error(), "app.manifest.template:") {
				t.Errorf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestUndefinedHint(t *testing.T) {
	_, err := testRenderer(t, nil).Render("t", []byte("{{ arch_libdir }}"))
	if err == nil || !strings.Contains(err.Error(), "-D arch_libdir=VALUE") {
		t.Fatalf("error %v lacks the -D hint", err)
	}
}

func TestPathMethods(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := testRenderer(t, map[string]any{"d": Path(dir)})
	in := `{{ d.is_dir() }} {{ d.exists() }} {{ (d / 'f').is_file() }} {{ (d / 'f').is_dir() }} {{ (d / 'nope').exists() }} {{ d / 'f' }}{{ '/' if d.is_dir() else '' }}`
	got, err := r.Render("t", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "True True True False False " + dir + "/f/"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetInsideIfLeaks(t *testing.T) {
	got, err := testRenderer(t, nil).Render("t", []byte("{% if true %}{% set x = 5 %}{% endif %}{{ x }}"))
	if err != nil || string(got) != "5" {
		t.Fatalf("got %q, %v", got, err)
	}
}

var errorCases = []struct {
	name, in string
	line     int
	undef    string // expected Error.Name for undefined errors
	sub      string
}{
	{"undefined var", "a = 1\nb = \"{{ log_level }}\"\n", 2, "log_level", "'log_level' is undefined"},
	{"undefined in if", "\n\n{% if nope %}x{% endif %}", 3, "nope", "'nope' is undefined"},
	{"undefined attr", "x\n{{ env.NOPE }}", 2, "NOPE", "has no attribute 'NOPE'"},
	{"undefined in for", "{% for x in xs %}{% endfor %}", 1, "xs", "'xs' is undefined"},
	{"undefined in concat", "{{ 'a' ~ missing_var }}", 1, "missing_var", "is undefined"},
	{"undefined filter input", "\n{{ nope|upper }}", 2, "nope", "is undefined"},
	{"undefined inside loop", "{% for i in [1] %}\n\n{{ i ~ later }}{% endfor %}", 3, "later", "'later' is undefined"},
	{"undefined method arg", "{{ env.get(nope) }}", 1, "nope", "undefined"},
	{"undefined compare", "{{ nope == 1 }}", 1, "nope", "undefined"},
	{"unknown filter", "\n{{ 1|frobnicate }}", 2, "", "no filter named 'frobnicate'"},
	{"unknown test", "{{ 1 is frob }}", 1, "", "no test named 'frob'"},
	{"unclosed if", "{% if true %}\nx\n", 3, "", "expected 'elif' or 'else' or 'endif'"},
	{"stray endif", "x\n{% endif %}", 2, "", "unexpected 'endif'"},
	{"unclosed var", "a\n{{ x ", 2, "", "missing '}}'"},
	{"unclosed comment", "{# x", 1, "", "unterminated comment"},
	{"set attr on non-namespace", "{% set d = {} %}\n{% set d.x = 1 %}", 2, "", "non-namespace"},
	{"undefined set value", "{% set x = nope %}\n{{ x }}", 2, "nope", "'nope' is undefined"},
	{"unknown tag", "{% include 'x' %}", 1, "", "unsupported statement 'include'"},
	{"bad char", "{{ x ; y }}", 1, "", "unexpected character"},
	{"unterminated string", "{{ 'abc }}", 1, "", "unterminated string"},
	{"not callable", "{{ 'a'() }}", 1, "", "not callable"},
	{"div zero", "\n\n{{ 1 // 0 }}", 3, "", "division or modulo by zero"},
	{"no python", "{{ python.stdlib }}", 1, "", "cannot run nacre-test-no-such-python"},
	{"bad ldd", "{{ ldd('/etc/hostname-nonexistent') }}", 1, "", "ldd"},
	{"type error", "{{ 1 + 'a' }}", 1, "", "unsupported operand"},
	{"invalid utf8", "\xff", 0, "", "not valid UTF-8"},
}

func TestHostileTemplates(t *testing.T) {
	r := testRenderer(t, nil)
	cases := map[string]string{
		"self list":  "{% set l = [] %}{% set _ = l.append(l) %}{{ l }}",
		"self dict":  "{% set d = {} %}{% set _ = d.update({'a': d}) %}{{ d }}",
		"deep paren": "{{ " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + " }}",
		"deep not":   "{{ " + strings.Repeat("not ", 5000) + "1 }}",
		"deep if":    strings.Repeat("{% if true %}", 5000) + strings.Repeat("{% endif %}", 5000),
		"recursion":  "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
		"big string": "{{ 'x' * 100000000 }}",
		"big range":  "{{ range(100000000)|length }}",
		"json cycle": "{% set l = [] %}{% set _ = l.append(l) %}{{ l|tojson }}",
	}
	for name, in := range cases {
		out, err := r.Render("t", []byte(in))
		switch name {
		case "self list":
			if string(out) != "[[...]]" {
				t.Errorf("%s: got %q, %v", name, out, err)
			}
		case "self dict":
			if string(out) != "{'a': {...}}" {
				t.Errorf("%s: got %q, %v", name, out, err)
			}
		default:
			if err == nil {
				t.Errorf("%s: rendered %d bytes, want an error", name, len(out))
			}
		}
	}
}
