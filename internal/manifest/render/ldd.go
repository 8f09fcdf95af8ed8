package render

import "github.com/nacre-tee/nacre/internal/runtimedir"

// ldd is the template function ldd(*executables).
func ldd(env map[string]string, files []string) ([]string, error) {
	libs, err := runtimedir.LDD(files, env)
	if err != nil {
		return nil, wrapf(err, "ldd()")
	}
	return libs, nil
}
