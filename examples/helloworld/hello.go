// Command helloworld is the smallest shielded application: a static binary
// that prints its arguments and what it can see of the filesystem.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Printf("Hello, world from inside nacre! argv=%q\n", strings.Join(os.Args, " "))
	entries, err := os.ReadDir("/")
	if err != nil {
		fmt.Fprintln(os.Stderr, "readdir /:", err)
		os.Exit(1)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	fmt.Printf("The shield shows me: /%s\n", strings.Join(names, " /"))
}
