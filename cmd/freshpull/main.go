// Command freshpull pulls container images into a local OCI image-layout
// store under a pull policy, and says exactly which image a build gets and
// why. Run `freshpull --help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if ctx.Err() != nil && (code == exitFailed || code == exitInterrupted) {
		fmt.Fprintf(os.Stderr, "freshpull: interrupted (%v); work in progress was discarded, the store is consistent\n", context.Cause(ctx))
		code = exitInterrupted
	}
	stop()
	os.Exit(code)
}
