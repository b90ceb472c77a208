// Command tandem-relay is Tandem's server: the API, signaling, enrollment,
// audit log and embedded TURN. See "tandem-relay help".
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-relay:", err)
		os.Exit(1)
	}
}
