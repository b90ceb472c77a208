package console

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/guest"
	"github.com/tandem-rc/tandem/transport/wire"
)

// groupKey writes an OnDemand key as it is read out: "613 220 463".
func groupKey(key string) string { return wire.GroupKey(key) }

// status is a device's Status column: online, or when it was last seen
// relative to now.
func status(online bool, lastSeen int64, now time.Time) string {
	if online {
		return "online"
	}
	if lastSeen <= 0 {
		return "never seen"
	}
	d := now.Sub(time.Unix(lastSeen, 0))
	switch {
	case d < time.Minute:
		return "last seen just now"
	case d < time.Hour:
		return fmt.Sprintf("last seen %d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("last seen %d h ago", int(d/time.Hour))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("last seen %d days ago", int(d/(24*time.Hour)))
	}
	return "last seen " + time.Unix(lastSeen, 0).Format("2006-01-02")
}

// waited is the time an OnDemand agent has waited in the queue, mm:ss.
func waited(joined int64, now time.Time) string {
	if joined <= 0 {
		return ""
	}
	s := max(int(now.Sub(time.Unix(joined, 0))/time.Second), 0)
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// permLabels are the short labels of the permissions a technician gets.
var permLabels = map[string]string{
	"view_screen": "view", "keyboard_mouse": "control", "lock_input": "lock",
	"blank_screen": "blank", "clipboard": "clipboard", "execute_command": "commands",
	"file_transfer": "files", "chat": "chat", "power": "power",
}

func permissions(ps []string) string {
	if len(ps) == 0 {
		return "none (you may not start it)"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		if l, ok := permLabels[p]; ok {
			out[i] = l
		} else {
			out[i] = p
		}
	}
	return strings.Join(out, " · ")
}

// explain turns an error from the relay into what the technician should
// read: what went wrong and what to do.
func explain(err error) string {
	var ae *guest.APIError
	var ue *url.Error
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		if ae.RetryAfter > 0 {
			mins := int((ae.RetryAfter + time.Minute - 1) / time.Minute)
			return fmt.Sprintf("Too many failed logins: locked out, try again in %d minute%s.", mins, plural(mins))
		}
		return "Too many failed logins: locked out for a while, try again later."
	case errors.As(err, &ae) && ae.Message != "":
		return upper(ae.Message) + "."
	case errors.Is(err, guest.ErrUnauthorized):
		return "Your login expired: log in again."
	case errors.As(err, &ue), errors.As(err, &ne):
		return "Cannot reach the relay: check its address and your network (" + err.Error() + ")."
	}
	return upper(err.Error()) + "."
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func upper(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	s = strings.TrimPrefix(s, "guest: ") // the library's prefix means nothing to the reader
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
