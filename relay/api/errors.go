// Package api is the relay's HTTP API kit: the error answer, JSON in and
// out, listings, who the caller is and the audit log. Handler packages
// (relay/manage, ...) build on it so their endpoints live beside their
// logic instead of in the relay's root package.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// MaxBodySize bounds every JSON request body.
const MaxBodySize = 64 << 10

// Error codes of the API (wire.APIErrorBody.Code).
const (
	CodeBadRequest      = "bad_request"
	CodeBodyTooLarge    = "body_too_large"
	CodeUnauthorized    = "unauthorized"
	CodeBadCredentials  = "invalid_credentials"
	CodeForbidden       = "forbidden"
	CodeInvalidKey      = "invalid_key"
	CodePackageInactive = "package_inactive"
	CodePackageExpired  = "package_expired"
	CodePackageFull     = "package_full"
	CodeRevoked         = "revoked"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
	CodeConflict        = "conflict"
	CodeAmbiguous       = "ambiguous_device"
	CodeDevicePending   = "device_pending"
	CodeDeviceRevoked   = "device_revoked"
	CodeUnknownDevice   = "unknown_device" // an agent whose device row is gone: it may enroll again
	CodeDeviceOffline   = "device_offline"
	CodeSessionEnded    = "session_ended"
	CodeSessionExpired  = "session_expired"
	CodeSessionBusy     = "session_busy"
	CodeThrottled       = "throttled"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
	CodeInvalidToken    = "invalid_token" // invitation or reset token unknown, used or replaced
	CodeTokenExpired    = "token_expired" // invitation or reset token too old
	CodeWeakPassword    = "weak_password" // the password rules (spec 2.3.2)
	CodeLimit           = "limit_reached" // e.g. an invitation resent 5 times
	CodeMFAEnforced     = "mfa_enforced"  // the account enforces MFA: no per-user toggle
	CodeMFAFailed       = "mfa_failed"    // wrong, expired or used-up MFA code
	CodeMailUnavailable = "mail_unavailable"
)

// Error is an error with its HTTP answer.
type Error struct {
	Status     int
	Code       string
	Msg        string
	Candidates []wire.Ref
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// Errf is an Error with a formatted message.
func Errf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Badf is a 400 with the reason.
func Badf(format string, args ...any) error {
	return Errf(http.StatusBadRequest, CodeBadRequest, format, args...)
}

// Handler is an API endpoint: it writes its answer, or returns an error
// (an *Error, or anything else for a 500 that is logged, not shown).
type Handler func(w http.ResponseWriter, r *http.Request) error

// Route is one endpoint of a handler package.
type Route struct {
	Method, Path string
	H            Handler
}

// WriteError answers err: an *Error as itself, anything else as a 500
// whose cause goes to log only.
func WriteError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		log.Error("request failed", "method", r.Method, "path", LogPath(r.URL.Path), "err", err)
		ae = Errf(http.StatusInternalServerError, CodeInternal, "the relay failed to handle the request; try again or check its log")
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(ae.RetryAfter.Seconds()+0.999)))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
	}
	WriteJSON(w, ae.Status, wire.APIError{Error: wire.APIErrorBody{Code: ae.Code, Message: ae.Msg, Candidates: ae.Candidates}})
}
