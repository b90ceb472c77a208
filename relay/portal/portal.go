// Package portal is the Portal: the browser management console of spec
// chapters 2–6, served by the relay at /. Its pages are server-rendered
// html/template with native elements (forms, <dialog>, <details>, links
// whose URLs carry a listing's filters) and one small script.
//
// The Portal is a client of the relay's JSON API: every page calls the
// API's http.Handler in-process with the signed-in user's token as a
// Bearer token, so authorisation, audit and rate limits are the API's and
// nothing here can go around them. The token lives in an __Host- cookie
// (HttpOnly, Secure, SameSite=Strict); state-changing requests pass Go's
// cross-origin protection; the CSP allows no inline script or style.
package portal

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/webconsole"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is every Portal page's Content-Security-Policy: nothing but the
// relay's own scripts, styles and images; no framing, no foreign forms.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config configures a Portal.
type Config struct {
	// API is the relay's HTTP handler; the Portal sends it /api/v1
	// requests in-process.
	API     http.Handler
	Logger  *slog.Logger // default: discard
	Version string
	Clock   func() time.Time // default time.Now
	// PublicURL is how clients reach the relay (the tandem:// links of
	// My devices); "" takes each request's origin.
	PublicURL string
	// ConsoleRefusals counts the browser console's refused requests for
	// the audit log (webconsole.Config.Refusals).
	ConsoleRefusals *guard.Tally
}

// Portal serves the Portal's pages and assets.
type Portal struct {
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	handler http.Handler
	live    *liveHub // the live queue's streams (live.go)
	console *webconsole.Console
}

// New builds the Portal. It panics only on a broken embedded template
// (a build error, caught by every test).
func New(cfg Config) *Portal {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	p := &Portal{cfg: cfg, log: cfg.Logger, pages: parsePages()}
	p.handler = p.routes()
	return p
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func (p *Portal) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	// Signed out.
	mux.HandleFunc("GET /signin", p.handleSignIn)
	mux.HandleFunc("POST /signin", p.handleSignIn)
	mux.HandleFunc("POST /signin/mfa", p.handleSignInMFA)
	mux.HandleFunc("GET "+ssoCallback, p.handleSSOCallback)
	mux.HandleFunc("GET /forgot", p.handleForgot)
	mux.HandleFunc("POST /forgot", p.handleForgot)
	mux.HandleFunc("GET /reset", p.handleReset)
	mux.HandleFunc("POST /reset", p.handleReset)
	mux.HandleFunc("GET /invite", p.handleInvite)
	mux.HandleFunc("POST /invite", p.handleInvite)
	mux.HandleFunc("POST /logoff", p.handleLogOff)
	// Signed in.
	mux.Handle("GET /{$}", p.page(p.handleDashboard))
	mux.Handle("POST /account", p.page(p.handleSwitchAccount))
	mux.Handle("POST /columns", p.page(p.handleChooseColumns))
	mux.Handle("GET /users", p.page(p.handleUsers))
	mux.Handle("POST /users/invite", p.page(p.handleInviteUsers))
	mux.Handle("POST /users/remove", p.page(p.handleRemoveUsers))
	mux.Handle("GET /downloads", p.page(p.handleDownloads))
	mux.Handle("POST /downloads/create", p.page(p.handleCreatePackage))
	mux.Handle("POST /downloads/action", p.page(p.handlePackageAction))
	mux.Handle("GET /security", p.page(p.handleSecurity))
	mux.Handle("POST /security/{form}", p.page(p.handleSecurity))
	mux.Handle("GET /configuration", p.page(p.handleConfiguration))
	mux.Handle("POST /configuration", p.page(p.handleConfiguration))
	mux.Handle("GET /mydevices", p.page(p.handleMyDevices))
	mux.Handle("POST /mydevices/favorite", p.page(p.handleFavorite))
	mux.Handle("GET /logs", p.page(p.handleLogs))
	mux.Handle("POST /logs/reports", p.page(p.handleLogReport))
	mux.Handle("GET /logs/reports/{id}", p.page(p.handleLogCSV))
	mux.Handle("GET /groups", p.page(p.handleGroups))
	mux.Handle("POST /groups", p.page(p.handleGroups))
	mux.Handle("GET /sessions", p.page(p.handleSessions))
	mux.Handle("POST /sessions/{action}", p.page(p.handleSessionAction))
	mux.Handle("GET /profile", p.page(p.handleProfile))
	mux.Handle("POST /profile/{form}", p.page(p.handleProfilePost))
	mux.Handle("GET /devices", p.page(p.handleDevices))
	mux.Handle("POST /devices/action", p.page(p.handleDeviceAction))
	p.routesManage(mux)
	p.routesMFA(mux)
	p.routesLive(mux)
	p.routesAccess(mux)
	p.routesConsole(mux)
	p.routesSSO(mux)
	for _, it := range navItems {
		if it.todo {
			mux.Handle("GET "+it.Path, p.page(p.handleNotYet))
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST " + portalSAMLACS) // the IdP's form post (ssomethods.go)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.console.CrossOrigin(r) { // the console counts its own, rate-limited
			p.log.Warn("portal: cross-origin request refused", "method", r.Method, "path", r.URL.Path)
		}
		p.renderError(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Open the Portal and try again.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets the headers every Portal answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			// Pages show account data: never from a shared cache or the
			// back-forward cache after log off.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
