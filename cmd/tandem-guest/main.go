// Command tandem-guest is the technician's command-line guest: log in, list
// devices, take a snapshot of a device's screen and send it input. (With no
// arguments it will open the desktop console once that lands.)
package main

import (
	"fmt"
	"os"

	"github.com/tandem-rc/tandem/guest"
)

func main() {
	if err := guest.Command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-guest:", err)
		os.Exit(1)
	}
}
