//go:build race

package main

// Under go test -race the freshpull binary the tests run is built with the
// race detector too.
func init() { buildFlags = append(buildFlags, "-race") }
