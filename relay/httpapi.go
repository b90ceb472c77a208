package relay

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/listing"
	"github.com/tandem-rc/tandem/relay/portal"
	"github.com/tandem-rc/tandem/transport/wire"
)

// apiError is an error with its HTTP answer (relay/api's).
type apiError = api.Error

// apiHandler is an API endpoint: it writes its answer, or returns an error
// (an *apiError, or anything else for a 500 that is logged, not shown).
type apiHandler = api.Handler

func errf(status int, code, format string, args ...any) *apiError {
	return api.Errf(status, code, format, args...)
}

func (s *Server) api(h apiHandler) http.HandlerFunc { return s.kit.Serve(h) }

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	api.WriteError(s.log, w, r, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) { api.WriteJSON(w, status, v) }

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error { return api.DecodeJSON(w, r, v) }

func parseListing(r *http.Request, cols []string) (listing.Query, error) {
	return api.ParseListing(r, cols)
}

func setTotal(w http.ResponseWriter, total int) { api.SetTotal(w, total) }

func pageOf[T any](all []T, id func(T) string, ids []string) []T { return api.PageOf(all, id, ids) }

func remoteIP(r *http.Request) string { return api.RemoteIP(r) }

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
		{"GET", "/api/v1/accounts/{account}/assignments", s.api(s.handleAssignments)},
		{"POST", "/api/v1/accounts/{account}/assignments", s.api(s.handleCreateAssignment)},
		{"PUT", "/api/v1/accounts/{account}/assignments/{id}", s.api(s.handleUpdateAssignment)},
		{"DELETE", "/api/v1/accounts/{account}/assignments/{id}", s.api(s.handleDeleteAssignment)},
		{"PUT", "/api/v1/me/favorites/{device}", s.api(s.handleFavorite)},
		{"DELETE", "/api/v1/me/favorites/{device}", s.api(s.handleFavorite)},
		{"GET", "/api/v1/accounts/{account}/devices", s.api(s.handleAccountDevices)},
		{"GET", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleAccountDevice)},
		{"PATCH", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleUpdateDevice)},
		{"POST", "/api/v1/accounts/{account}/devices/{id}/enroll", s.api(s.handleEnrollPending)},
		{"POST", "/api/v1/accounts/{account}/devices/{id}/revoke", s.api(s.handleRevokeDevice)},
		{"DELETE", "/api/v1/accounts/{account}/devices/{id}", s.api(s.handleRemoveDevice)},
		{"GET", "/api/v1/accounts/{account}/packages", s.api(s.handlePackages)},
		{"POST", "/api/v1/accounts/{account}/packages", s.api(s.handleCreatePackage)},
		{"PUT", "/api/v1/accounts/{account}/packages/{id}", s.api(s.handleUpdatePackage)},
		{"POST", "/api/v1/accounts/{account}/packages/{id}/revoke", s.api(s.handleRevokePackage)},
		{"DELETE", "/api/v1/accounts/{account}/packages/{id}", s.api(s.handleDeletePackage)},
		{"GET", "/api/v1/accounts/{account}/ldap", s.api(s.handleLDAPMethods)},
		{"POST", "/api/v1/accounts/{account}/ldap", s.api(s.handleCreateLDAPMethod)},
		{"DELETE", "/api/v1/accounts/{account}/ldap/{id}", s.api(s.handleDeleteLDAPMethod)},
		{"POST", "/api/v1/accounts/{account}/ldap/{id}/groups", s.api(s.handleImportLDAPGroup)},
	}, slices.Concat(s.userRoutes(), s.kitRoutes(s.mg.Routes()), s.kitRoutes(s.auditAPI.Routes()), s.ldapEditRoutes(), s.kitRoutes(s.ssoAPI.Routes()))...)
}

// kitRoutes are a handler package's routes (relay/api) in the table.
func (s *Server) kitRoutes(rs []api.Route) []route {
	out := make([]route, len(rs))
	for i, rt := range rs {
		out[i] = route{rt.Method, rt.Path, s.api(rt.H)}
	}
	return out
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
			s.writeError(w, r, errf(http.StatusMethodNotAllowed, api.CodeMethod, "use %s on %s", methods, r.URL.Path))
		})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "no API endpoint %s", r.URL.Path))
	})
	// The Portal: every other path. It calls this same handler for the
	// API, so it goes through the same checks as any client.
	mux.Handle("/", portal.New(portal.Config{Logger: s.log, Version: s.cfg.Version, Clock: s.cfg.Clock, PublicURL: s.cfg.PublicURL, ConsoleRefusals: s.gd.guestFail,
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

func logPath(p string) string { return api.LogPath(p) }

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

func validText(v string, max int) bool { return api.ValidText(v, max) }

func checkText(field, v string, max int) error { return api.CheckText(field, v, max) }
