// Package safetext decides which client-supplied text the relay stores:
// names and descriptions end up on install pages, in emails, in the Portal
// and in the consoles, where a control, a direction override or an
// invisible character makes one name display as another ("invoice‮fdp.exe",
// "Admin" with a zero-width space). One validator serves every field.
package safetext

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Refused tells why r may not appear in stored text, or "" when it may.
func Refused(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "invalid UTF-8 (or U+FFFD)"
	case r < 0x20 || r == 0x7f:
		return "a control character"
	case r >= 0x80 && r <= 0x9f:
		return "a C1 control character"
	case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return "a bidirectional control, which can make text display in another order than it reads"
	case (r >= 0x200b && r <= 0x200d) || r == 0x2060 || r == 0xfeff:
		return "a zero-width character, which makes different texts look the same"
	case r == 0x2028 || r == 0x2029:
		return "a line or paragraph separator"
	case unicode.Is(unicode.Cf, r):
		return "an invisible formatting character"
	}
	return ""
}

// Text checks a free text (a description, a company name): at most max
// bytes of valid UTF-8 without any character Refused names. The error
// says which character and why, for the client to show.
func Text(v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("at most %d bytes", max)
	}
	for i, r := range v {
		if why := Refused(r); why != "" {
			if r == utf8.RuneError {
				return fmt.Errorf("byte %d is %s", i, why)
			}
			return fmt.Errorf("U+%04X at byte %d is %s", r, i, why)
		}
	}
	return nil
}

// Name checks a name (of a user, group, device, package, role,
// application, account): Text, not empty, no spaces around it.
func Name(v string, max int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return errors.New("must not be empty")
	case strings.TrimSpace(v) != v:
		return errors.New("must not start or end with spaces")
	}
	return Text(v, max)
}
