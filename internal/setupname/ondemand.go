package setupname

import (
	"errors"
	"regexp"
)

// OnDemandPrefix starts the name of a tandem-ondemand binary the relay
// serves from an OnDemand link (/s/<key>): tandem-ondemand_<relay>_<key>
// with the relay URL encoded as for installers and the session key in
// digits, plus ".exe" on Windows. The agent reads both from its own name,
// so the end user has nothing to type.
const OnDemandPrefix = "tandem-ondemand_"

var (
	odKeyRE  = regexp.MustCompile(`^[0-9]{6,16}$`)
	odNameRE = regexp.MustCompile(`^` + OnDemandPrefix + `([a-z2-7]+)_([0-9]{6,16})(?: ?\(\d{1,4}\))?(\.exe)?$`)
)

// OnDemandName returns the file name for relayURL and an OnDemand session
// key (digits) with extension ext: "exe" or "" (none).
func OnDemandName(relayURL, key, ext string) (string, error) {
	if err := checkRelay(relayURL); err != nil {
		return "", err
	}
	if !odKeyRE.MatchString(key) {
		return "", errors.New("setupname: not an OnDemand session key")
	}
	switch ext {
	case "exe":
		ext = ".exe"
	case "":
	default:
		return "", errors.New("setupname: extension must be exe or none")
	}
	return OnDemandPrefix + enc.EncodeToString([]byte(relayURL)) + "_" + key + ext, nil
}

// ParseOnDemand returns the relay URL and session key an OnDemand
// binary's file name (a base name) carries; ok is false for any other name.
func ParseOnDemand(name string) (relayURL, key string, ok bool) {
	m := odNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	raw, err := enc.DecodeString(m[1])
	if err != nil || checkRelay(string(raw)) != nil {
		return "", "", false
	}
	return string(raw), m[2], true
}
