package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/relay/portal"
	"github.com/tandem-rc/tandem/relay/safetext"
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

// apiError is an error with its HTTP answer.
type apiError struct {
	status     int
	code       string
	msg        string
	candidates []wire.Ref
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// apiHandler is an API endpoint: it writes its answer, or returns an error
// (an *apiError, or anything else for a 500 that is logged, not shown).
type apiHandler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) api(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("request failed", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
		ae = errf(http.StatusInternalServerError, CodeInternal, "the relay failed to handle the request; try again or check its log")
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(ae.retryAfter.Seconds()+0.999)))
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
	}
	writeJSON(w, ae.status, wire.APIError{Error: wire.APIErrorBody{Code: ae.code, Message: ae.msg, Candidates: ae.candidates}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeJSON reads one JSON object into v: at most MaxBodySize bytes, no
// unknown fields, nothing after it.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if mt = strings.TrimSpace(strings.ToLower(mt)); mt != "application/json" {
			return errf(http.StatusUnsupportedMediaType, CodeBadRequest, "send the body as application/json, not %s", mt)
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
		return errf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the request body exceeds %d bytes", MaxBodySize)
	case errors.Is(err, io.EOF):
		return errf(http.StatusBadRequest, CodeBadRequest, "the request body is empty; send a JSON object")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return errf(http.StatusBadRequest, CodeBadRequest, "the request body is not valid JSON")
	case errors.As(err, &typ):
		return errf(http.StatusBadRequest, CodeBadRequest, "field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errf(http.StatusBadRequest, CodeBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errf(http.StatusBadRequest, CodeBadRequest, "malformed request body: %v", err)
}

// parseListing reads a listing's filters, sort and page (relay/listing)
// from r's query; a bad one is a 400 with the reason.
func parseListing(r *http.Request, cols []string) (listing.Query, error) {
	q, err := listing.Parse(r.URL.Query(), cols)
	if err != nil {
		return q, errf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	return q, nil
}

// setTotal tells a listing's client how many rows match in all.
func setTotal(w http.ResponseWriter, total int) { w.Header().Set("X-Total-Count", strconv.Itoa(total)) }

// pageOf picks, in order, the items of all whose ids a store listing page
// named; one removed meanwhile is left out.
func pageOf[T any](all []T, id func(T) string, ids []string) []T {
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

// remoteIP is the caller's address without port, as seen through trusted
// proxies (the throttles' key and the audit log's remote address).
func remoteIP(r *http.Request) string { return frontdoor.ClientIP(r) }

type route struct {
	method, path string
	h            http.Handler
}

// routeTable lists the API's routes (the authorization tests walk it).
func (s *Server) routeTable() []route {
	return append([]route{
		{"GET", "/api/v1/health", s.api(s.handleHealth)},
		{"GET", "/api/v1/relay", s.api(s.handleRelayInfo)},
		{"GET", "/api/v1/openapi.json", s.api(s.handleOpenAPI)},
		{"POST", "/api/v1/enroll", s.api(s.handleEnroll)},
		{"GET", "/api/v1/agent/connect", s.api(s.handleAgentConnect)},
		{"POST", "/api/v1/login", s.api(s.handleLogin)},
		{"POST", "/api/v1/logout", s.api(s.handleLogout)},
		{"GET", "/api/v1/me", s.api(s.handleMe)},
		{"GET", "/api/v1/devices", s.api(s.handleDevices)},
		{"POST", "/api/v1/sessions", s.api(s.handleCreateSession)},
		{"POST", "/api/v1/ondemand", s.api(s.handleCreateOnDemand)},
		{"GET", "/api/v1/ondemand", s.api(s.handleOnDemandSessions)},
		{"POST", "/api/v1/ondemand/join", s.api(s.handleJoinOnDemand)},
		{"POST", "/api/v1/ondemand/{key}/email", s.api(s.handleEmailOnDemand)},
		{"POST", "/api/v1/ondemand/{key}/reject", s.api(s.handleRejectOnDemand)},
		{"GET", "/api/v1/sessions/{id}/signal", s.api(s.handleSignal)},
		{"GET", "/api/v1/confirmations/{id}", s.api(s.handleConfirmationStatus)},
		{"GET", "/api/v1/accounts/{account}/check", s.api(s.handleCheck)},
		{"GET", "/api/v1/accounts/{account}/groups", s.api(s.handleGroups)},
		{"POST", "/api/v1/accounts/{account}/groups", s.api(s.handleCreateGroup)},
		{"GET", "/api/v1/accounts/{account}/groups/{id}", s.api(s.handleGroup)},
		{"PATCH", "/api/v1/accounts/{account}/groups/{id}", s.api(s.handleUpdateGroup)},
		{"DELETE", "/api/v1/accounts/{account}/groups/{id}", s.api(s.handleDeleteGroup)},
		{"PUT", "/api/v1/accounts/{account}/groups/{id}/members/{member}", s.api(s.handleGroupMember)},
		{"DELETE", "/api/v1/accounts/{account}/groups/{id}/members/{member}", s.api(s.handleGroupMember)},
		{"GET", "/api/v1/accounts/{account}/roles", s.api(s.handleRoles)},
		{"POST", "/api/v1/accounts/{account}/roles", s.api(s.handleCreateRole)},
		{"PUT", "/api/v1/accounts/{account}/roles/{id}", s.api(s.handleUpdateRole)},
		{"DELETE", "/api/v1/accounts/{account}/roles/{id}", s.api(s.handleDeleteRole)},
		{"POST", "/api/v1/accounts/{account}/roles/{id}/copy", s.api(s.handleCopyRole)},
		{"GET", "/api/v1/accounts/{account}/applications", s.api(s.handleApps)},
		{"POST", "/api/v1/accounts/{account}/applications", s.api(s.handleCreateApp)},
		{"PUT", "/api/v1/accounts/{account}/applications/{id}", s.api(s.handleUpdateApp)},
		{"DELETE", "/api/v1/accounts/{account}/applications/{id}", s.api(s.handleDeleteApp)},
		{"GET", "/api/v1/accounts/{account}/assignments", s.api(s.handleAssignments)},
		{"POST", "/api/v1/accounts/{account}/assignments", s.api(s.handleCreateAssignment)},
		{"PUT", "/api/v1/accounts/{account}/assignments/{id}", s.api(s.handleUpdateAssignment)},
		{"DELETE", "/api/v1/accounts/{account}/assignments/{id}", s.api(s.handleDeleteAssignment)},
		{"PUT", "/api/v1/me/favorites/{device}", s.api(s.handleFavorite)},
		{"DELETE", "/api/v1/me/favorites/{device}", s.api(s.handleFavorite)},
		{"GET", "/api/v1/accounts/{account}/devices", s.api(s.handleAccountDevices)},
		{"GET", "/api/v1/accounts/{account}/counts", s.api(s.handleAccountCounts)},
		{"GET", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleAccountDevice)},
		{"PATCH", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleUpdateDevice)},
		{"POST", "/api/v1/accounts/{account}/devices/{id}/enroll", s.api(s.handleEnrollPending)},
		{"POST", "/api/v1/accounts/{account}/devices/{id}/revoke", s.api(s.handleRevokeDevice)},
		{"DELETE", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleRemoveDevice)},
		{"GET", "/api/v1/accounts/{account}/config", s.api(s.handleAccountConfig)},
		{"PUT", "/api/v1/accounts/{account}/config", s.api(s.handleSetAccountConfig)},
		{"GET", "/api/v1/accounts/{account}/packages", s.api(s.handlePackages)},
		{"POST", "/api/v1/accounts/{account}/packages", s.api(s.handleCreatePackage)},
		{"PUT", "/api/v1/accounts/{account}/packages/{id}", s.api(s.handleUpdatePackage)},
		{"POST", "/api/v1/accounts/{account}/packages/{id}/revoke", s.api(s.handleRevokePackage)},
		{"DELETE", "/api/v1/accounts/{account}/packages/{id}", s.api(s.handleDeletePackage)},
		{"GET", "/api/v1/accounts/{account}/ldap", s.api(s.handleLDAPMethods)},
		{"POST", "/api/v1/accounts/{account}/ldap", s.api(s.handleCreateLDAPMethod)},
		{"DELETE", "/api/v1/accounts/{account}/ldap/{id}", s.api(s.handleDeleteLDAPMethod)},
		{"POST", "/api/v1/accounts/{account}/ldap/{id}/groups", s.api(s.handleImportLDAPGroup)},
		{"GET", "/api/v1/accounts/{account}/audit", s.api(s.handleAudit)},
		{"GET", "/api/v1/accounts/{account}/audit/settings", s.api(s.handleAuditSettings)},
		{"PUT", "/api/v1/accounts/{account}/audit/settings", s.api(s.handleSetAuditSettings)},
		{"GET", "/api/v1/accounts/{account}/audit/reports", s.api(s.handleAuditReports)},
		{"POST", "/api/v1/accounts/{account}/audit/reports", s.api(s.handleCreateAuditReport)},
		{"GET", "/api/v1/accounts/{account}/audit/reports/{id}/csv", s.api(s.handleAuditReportCSV)},
		{"DELETE", "/api/v1/accounts/{account}/audit/reports/{id}", s.api(s.handleDeleteAuditReport)},
		{"GET", "/api/v1/accounts/{account}/activity", s.api(s.handleActivity)},
		{"GET", "/api/v1/me/columns", s.api(s.handleColumns)},
		{"PUT", "/api/v1/me/columns/{list}", s.api(s.handleSetColumns)},
	}, slices.Concat(s.userRoutes(), s.logoRoutes(), s.ldapEditRoutes(), s.oidcRoutes(), s.samlRoutes(), s.scopeRoutes())...)
}

func (s *Server) routes() http.Handler {
	routes := s.routeTable()
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, rt.h)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// Same paths with another method: 405 in the API's error format.
	for _, p := range paths {
		methods := strings.Join(allowed[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			s.writeError(w, r, errf(http.StatusMethodNotAllowed, CodeMethod, "use %s on %s", methods, r.URL.Path))
		})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errf(http.StatusNotFound, CodeNotFound, "no API endpoint %s", r.URL.Path))
	})
	// The Portal: every other path. It calls this same handler for the
	// API, so it goes through the same checks as any client.
	mux.Handle("/", portal.New(portal.Config{Logger: s.log, Version: s.cfg.Version, Clock: s.cfg.Clock, PublicURL: s.cfg.PublicURL,
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) })}))
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /d/{key}", s.handleDownloadPage)
	mux.HandleFunc("GET /c/{token}", s.handleConfirmPage)
	mux.HandleFunc("POST /c/{token}", s.handleConfirmPage)
	mux.HandleFunc("GET /d/{key}/{file}", s.handleDownloadFile)
	mux.HandleFunc("GET /s/{key}", s.handleODPage)
	mux.HandleFunc("GET /s/{key}/{file}", s.handleODFile)
	return s.front.Wrap(s.middleware(mux))
}

// middleware sets common headers and logs requests at debug level (path
// only: queries and headers may carry secrets).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if changesAccess(r) {
			// It may have changed who may do what: decide afresh.
			s.models.invalidate()
		}
		if rec.status == http.StatusTooManyRequests {
			s.metrics.Throttled(r.Pattern) // set by the mux: a bounded set
		}
		s.log.Debug("http", "method", r.Method, "path", logPath(r.URL.Path), "status", rec.status,
			"remote", remoteIP(r), "took", time.Since(start).Round(time.Microsecond))
	})
}

// changesAccess reports whether a request may change an account's access
// model: every write but the frequent ones known not to (asking for a
// session, logging out, a second login step, generating a log report,
// answering a confirmation).
func changesAccess(r *http.Request) bool {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return false
	case !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/c/"):
		return false // the Portal: its changes go through the API, which counts them
	case r.Method == http.MethodPost && (r.URL.Path == "/api/v1/sessions" || r.URL.Path == "/api/v1/logout" ||
		r.URL.Path == "/api/v1/login/mfa" || strings.HasPrefix(r.URL.Path, "/c/") ||
		strings.HasPrefix(r.URL.Path, "/api/v1/ondemand") ||
		strings.HasSuffix(r.URL.Path, "/audit/reports")),
		r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v1/me/columns/"):
		return false
	}
	return true
}

// logPath hides the enrollment key in installer links and OnDemand keys.
func logPath(p string) string {
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

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and the WebSocket library reach the
// hijacker underneath.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func (s *Server) handleRelayInfo(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, wire.RelayInfo{
		Name: Name, Version: s.cfg.Version, Protocol: wire.Version, PublicKey: s.PublicKeyString(),
	})
	return nil
}

// validText checks a client-supplied string: at most max bytes, valid
// UTF-8 without controls, bidirectional or invisible characters.
func validText(v string, max int) bool { return safetext.Text(v, max) == nil }

// checkText is validText as a 400 naming the field and the character.
func checkText(field, v string, max int) error {
	if err := safetext.Text(v, max); err != nil {
		return errf(http.StatusBadRequest, CodeBadRequest, "%s: %v", field, err)
	}
	return nil
}
