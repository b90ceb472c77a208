package guest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tandem-rc/tandem/internal/launchlink"
)

// CheckLink decides whether to follow a tandem:// link (tandem-guest open,
// run by the desktop for the Portal's Remote control): a link that is not
// exactly a relay URL and a device id is refused; a relay other than the
// one logged in to is followed only when the user answers yes to ask.
func CheckLink(raw string, st *State, ask func(question string) bool) (launchlink.Link, error) {
	l, err := launchlink.Parse(raw)
	if err != nil {
		return l, err
	}
	if st != nil && st.Relay != "" && launchlink.SameRelay(st.Relay, l.Relay) {
		return l, nil
	}
	current := "no relay"
	if st != nil && st.Relay != "" {
		current = st.Relay
	}
	q := fmt.Sprintf("A link asks to connect to the relay %s, which is not the one you use (%s).\n"+
		"Only continue if you trust it: you will log in to it. Connect? [y/N] ", l.Relay, current)
	if !ask(q) {
		return l, errors.New("not connecting to an unknown relay")
	}
	return l, nil
}

// AskYes asks question on out and reads one line from in: only "y" or
// "yes" is yes; no terminal or no answer is no.
func AskYes(in io.Reader, out io.Writer) func(string) bool {
	return func(question string) bool {
		fmt.Fprint(out, question)
		line, err := bufio.NewReader(io.LimitReader(in, 64)).ReadString('\n')
		if err != nil && line == "" {
			return false
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes"
	}
}
