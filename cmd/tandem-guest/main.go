// Command tandem-guest is the technician's command-line guest: log in, list
// devices, take a snapshot of a device's screen, send it input, transfer
// files, chat with its user, run commands and power actions. (With no
// arguments it will open the desktop console once that lands.)
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tandem-rc/tandem/guest"
)

func main() {
	if err := guest.Command().Execute(); err != nil {
		var ee *guest.ExitError
		if errors.As(err, &ee) { // exec: the remote command's own exit code
			os.Exit(ee.Code)
		}
		fmt.Fprintln(os.Stderr, "tandem-guest:", err)
		os.Exit(1)
	}
}
