// Package setupname carries a relay URL and an enrollment key in an online
// installer's file name, so that double-clicking a downloaded installer
// enrolls into the right deployment package with nothing to type (the
// relay names the file; the Host parses it). Renaming the file breaks it,
// as the download page says.
//
// Form: tandem-host-setup_<relay>_<key>.<ext>, where <relay> is the relay
// URL in lower-case unpadded base32 (file names can't hold "/" or ":") and
// <key> the enrollment key as issued (upper-case base32 groups and dashes).
// A " (N)" or "(N)" that browsers append to repeated downloads is ignored.
package setupname

import (
	"encoding/base32"
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Prefix starts every online installer's name.
const Prefix = "tandem-host-setup_"

// MaxRelayURL bounds the relay URL so names stay within the 255 bytes file
// systems allow (base32 grows it by 8/5).
const MaxRelayURL = 120

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

var (
	keyRE  = regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){1,15}$`)
	nameRE = regexp.MustCompile(`^` + Prefix + `([a-z2-7]+)_([A-Z2-7-]+)(?: ?\(\d{1,4}\))?\.(exe|pkg)$`)
)

// Name returns the installer file name for relayURL and key with extension
// ext ("exe", "pkg").
func Name(relayURL, key, ext string) (string, error) {
	if err := checkRelay(relayURL); err != nil {
		return "", err
	}
	if !keyRE.MatchString(key) {
		return "", errors.New("setupname: not an enrollment key")
	}
	if ext != "exe" && ext != "pkg" {
		return "", errors.New("setupname: extension must be exe or pkg")
	}
	return Prefix + enc.EncodeToString([]byte(relayURL)) + "_" + key + "." + ext, nil
}

// Parse returns the relay URL and key an installer's file name (a base
// name, not a path) carries; ok is false for any other name.
func Parse(name string) (relayURL, key string, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil || !keyRE.MatchString(m[2]) {
		return "", "", false
	}
	raw, err := enc.DecodeString(m[1])
	if err != nil || checkRelay(string(raw)) != nil {
		return "", "", false
	}
	return string(raw), m[2], true
}

func checkRelay(s string) error {
	if len(s) > MaxRelayURL {
		return errors.New("setupname: relay URL too long for a file name")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errors.New("setupname: relay URL must be printable ASCII")
		}
	}
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return errors.New("setupname: relay URL must be http(s)://host[:port]")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.TrimRight(u.Path, "/") != "" {
		return errors.New("setupname: relay URL must be http(s)://host[:port]")
	}
	return nil
}
