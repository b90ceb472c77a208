// Package ondemand is the OnDemand agent's window (spec 3.2): the end user
// enters the session key, waits in the technician's queue, allows or denies
// the technician's access, sees who is connected and can disconnect at any
// time. The window is a view of Controller, a state machine that holds no
// widgets, so both are tested with Fyne's test driver.
package ondemand

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tandem-rc/tandem/agent"
	"github.com/tandem-rc/tandem/internal/setupname"
)

// ParseInput reads what the user typed or pasted: a session key ("613 220
// 463") or the link the technician sent (RELAY/s/KEY), which also names
// the relay.
func ParseInput(s string) (relayURL, key string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", errors.New("enter the session key your technician gave you")
	}
	if strings.Contains(s, "://") {
		u, perr := url.Parse(s)
		i := strings.LastIndex(s, "/s/")
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || i < 0 {
			return "", "", errors.New("this link is not a session link (it looks like https://relay.example.com/s/123456789)")
		}
		relayURL, err = agent.NormalizeRelayURL(s[:i])
		if err != nil {
			return "", "", err
		}
		s = strings.TrimRight(s[i+len("/s/"):], "/")
	}
	if key, err = agent.NormalizeOnDemandKey(s); err != nil {
		return "", "", errors.New("a session key is 9 digits, like 613 220 463")
	}
	return relayURL, key, nil
}

// Prefill is what the window starts with: the flags first, then what the
// program's own file name carries (the relay serves it renamed with
// setupname.OnDemandName so the end user has nothing to type).
func Prefill(exe, keyFlag, relayFlag string) (relayURL, key string) {
	relayURL, key = strings.TrimSpace(relayFlag), strings.TrimSpace(keyFlag)
	if r, k, ok := setupname.ParseOnDemand(filepath.Base(exe)); ok {
		if relayURL == "" {
			relayURL = r
		}
		if key == "" {
			key = k
		}
	}
	if r, k, err := ParseInput(key); err == nil {
		if r != "" && relayFlag == "" {
			relayURL = r // --key took a link
		}
		key = k
	}
	return relayURL, key
}

// permissionText words a permission as the consent prompt shows it.
func permissionText(p string) string {
	switch p {
	case "view_screen":
		return "View remote screen"
	case "keyboard_mouse":
		return "Use keyboard & mouse"
	case "clipboard":
		return "Share the clipboard (text)"
	case "file_transfer":
		return "Transfer files"
	case "chat":
		return "Chat"
	case "lock_input":
		return "Lock your keyboard & mouse"
	case "blank_screen":
		return "Blank your screen"
	case "execute_command":
		return "Run commands"
	case "power":
		return "Restart or shut down"
	}
	return p
}
