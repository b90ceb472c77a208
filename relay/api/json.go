package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/relay/safetext"
)

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// DecodeJSON reads one JSON object into v: at most MaxBodySize bytes, no
// unknown fields, nothing after it.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if mt = strings.TrimSpace(strings.ToLower(mt)); mt != "application/json" {
			return Errf(http.StatusUnsupportedMediaType, CodeBadRequest, "send the body as application/json, not %s", mt)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return Errf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the request body exceeds %d bytes", MaxBodySize)
	case errors.Is(err, io.EOF):
		return Errf(http.StatusBadRequest, CodeBadRequest, "the request body is empty; send a JSON object")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return Errf(http.StatusBadRequest, CodeBadRequest, "the request body is not valid JSON")
	case errors.As(err, &typ):
		return Errf(http.StatusBadRequest, CodeBadRequest, "field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errf(http.StatusBadRequest, CodeBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return Errf(http.StatusBadRequest, CodeBadRequest, "malformed request body: %v", err)
}

// ParseListing reads a listing's filters, sort and page (relay/listing)
// from r's query; a bad one is a 400 with the reason.
func ParseListing(r *http.Request, cols []string) (listing.Query, error) {
	q, err := listing.Parse(r.URL.Query(), cols)
	if err != nil {
		return q, Errf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	return q, nil
}

// SetTotal tells a listing's client how many rows match in all.
func SetTotal(w http.ResponseWriter, total int) { w.Header().Set("X-Total-Count", strconv.Itoa(total)) }

// PageOf picks, in order, the items of all whose ids a store listing page
// named; one removed meanwhile is left out.
func PageOf[T any](all []T, id func(T) string, ids []string) []T {
	byID := make(map[string]T, len(all))
	for _, x := range all {
		byID[id(x)] = x
	}
	out := make([]T, 0, len(ids))
	for _, i := range ids {
		if x, ok := byID[i]; ok {
			out = append(out, x)
		}
	}
	return out
}

// RemoteIP is the caller's address without port, as seen through trusted
// proxies (the throttles' key and the audit log's remote address).
func RemoteIP(r *http.Request) string { return frontdoor.ClientIP(r) }

// ValidText checks a client-supplied string: at most max bytes, valid
// UTF-8 without controls, bidirectional or invisible characters.
func ValidText(v string, max int) bool { return safetext.Text(v, max) == nil }

// CheckText is ValidText as a 400 naming the field and the character.
func CheckText(field, v string, max int) error {
	if err := safetext.Text(v, max); err != nil {
		return Errf(http.StatusBadRequest, CodeBadRequest, "%s: %v", field, err)
	}
	return nil
}

// LogPath hides the enrollment key in installer links and OnDemand keys.
func LogPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/s/"); ok {
		_, file, _ := strings.Cut(rest, "/")
		return "/s/<key>/" + file
	}
	if rest, ok := strings.CutPrefix(p, "/api/v1/ondemand/"); ok && rest != "join" {
		_, action, _ := strings.Cut(rest, "/")
		return "/api/v1/ondemand/<key>/" + action
	}
	if rest, ok := strings.CutPrefix(p, "/c/"); ok && rest != "" {
		return "/c/<token>"
	}
	if rest, ok := strings.CutPrefix(p, "/d/"); ok {
		_, file, _ := strings.Cut(rest, "/")
		return "/d/<key>/" + file
	}
	return p
}

// CheckName is a 400 unless n is a valid name (relay/safetext).
func CheckName(field, n string) error {
	if err := safetext.Name(n, MaxShortText); err != nil {
		return Badf("%s: %v", field, err)
	}
	return nil
}

// CheckDescription is a 400 unless d is a valid description.
func CheckDescription(d string) error { return CheckText("description", d, MaxDescription) }

// Clip bounds a foreign string kept in the audit log or a login name.
func Clip(v string, n int) string {
	if len(v) > n {
		v = v[:n]
	}
	return strings.ToValidUTF8(v, "?")
}
