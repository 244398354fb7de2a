// hello-go: a WASI command built with `qyv build` and run with `qyv run`.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	// GREETING is a host variable the manifest grants (permissions.env); unset, it falls back.
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello"
	}
	fmt.Printf("%s from hello-go!\n", greeting)
	fmt.Printf("args: %s\n", strings.Join(os.Args[1:], " "))
}
