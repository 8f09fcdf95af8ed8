package render

import (
	"errors"
	"testing"
)

func FuzzRender(f *testing.F) {
	for _, c := range renderCases {
		f.Add(c.in)
	}
	for _, c := range errorCases {
		f.Add(c.in)
	}
	for _, in := range differentialCases {
		f.Add(in)
	}
	f.Add("{% for x in range(3) %}{% macro m(a) %}{{ m(a) }}{% endmacro %}{{ m(x) }}{% endfor %}")
	f.Add("{{ ('a' * 1000) * 1000 }}{{ [1] * 100000 }}")
	f.Add("{%- raw -%}{%- endraw -%}{#- -#}{{- 1 -}}")
	f.Fuzz(func(t *testing.T, tmpl string) {
		r := New(Options{
			Defines:    map[string]any{"s": "str", "l": []string{"a"}, "b": true},
			Env:        map[string]string{"HOME": "/root"},
			RuntimeDir: func(libc string) (string, error) { return "/nonexistent/runtime/" + libc, nil },
			PkgLibDir:  "/nonexistent",
			Python:     "/nonexistent/python3",
		})
		out, err := r.Render("fuzz.template", []byte(tmpl))
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if out != nil {
				t.Fatalf("output returned with error")
			}
		}
	})
}
