package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/transport/wire"
)

// Cookies. __Host- binds them to this origin: Secure, Path=/, no Domain.
// Browsers treat http://127.0.0.1 and localhost as secure contexts, so
// they work in local tests too.
const (
	sessionCookie = "__Host-tandem"         // the login token
	accountCookie = "__Host-tandem-account" // the account the user works in
	flashCookie   = "__Host-tandem-flash"   // one message for the next page
)

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	} else if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

func clearCookie(w http.ResponseWriter, name string) { setCookie(w, name, "", -1) }

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// flash leaves msg for the next page the browser shows.
func flash(w http.ResponseWriter, msg string) {
	setCookie(w, flashCookie, url.QueryEscape(msg), time.Minute)
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	v := cookie(r, flashCookie)
	if v == "" {
		return ""
	}
	clearCookie(w, flashCookie)
	msg, err := url.QueryUnescape(v)
	if err != nil || len(msg) > 300 {
		return ""
	}
	return msg
}

// localNext returns next when it is a path on this site the browser may
// go back to after signing in; anything else ("//evil", "https://…",
// "/\evil", control characters, the sign-in pages) is "/". No open
// redirect.
func localNext(next string) string {
	if next == "" || len(next) > 1000 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	for _, p := range []string{"/signin", "/logoff", "/static/"} {
		if strings.HasPrefix(u.Path, p) {
			return "/"
		}
	}
	return next
}

// session is the signed-in user as a page sees them.
type session struct {
	Token   string
	User    wire.User
	Account wire.Ref    // the account the user works in now
	Member  wire.Member // their membership there (type, rights)
}

// Rank orders member types as the API does: owner 4 … user 1.
func rank(t string) int {
	switch t {
	case "owner":
		return 4
	case "admin":
		return 3
	case "group_manager":
		return 2
	case "user":
		return 1
	}
	return 0
}

// AtLeast reports whether the member's type is t or higher.
func (s *session) AtLeast(t string) bool { return rank(s.Member.Type) >= rank(t) }

var errSignedOut = errors.New("portal: signed out")

// loadSession resolves the session cookie through the API: no cookie, or
// a token the API refuses, is errSignedOut.
func (p *Portal) loadSession(r *http.Request) (*session, error) {
	tok := cookie(r, sessionCookie)
	if tok == "" || len(tok) > 256 {
		return nil, errSignedOut
	}
	s := &session{Token: tok}
	if _, err := p.call(r, tok, "GET", "/api/v1/me", nil, &s.User); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return nil, errSignedOut
		}
		return nil, err
	}
	if len(s.User.Accounts) == 0 {
		return s, nil
	}
	s.Account = s.User.Accounts[0]
	want := cookie(r, accountCookie)
	if i := slices.IndexFunc(s.User.Accounts, func(a wire.Ref) bool { return a.ID == want }); i >= 0 {
		s.Account = s.User.Accounts[i]
	}
	if _, err := p.call(r, tok, "GET", accountPath(s.Account.ID, "/users/"+url.PathEscape(s.User.ID)), nil, &s.Member); err != nil {
		return nil, err
	}
	return s, nil
}

// pageHandler is a signed-in page.
type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// page wraps a signed-in page: signed out (or expired) goes to sign-in and
// comes back here afterwards.
func (p *Portal) page(h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := p.loadSession(r)
		if errors.Is(err, errSignedOut) {
			clearCookie(w, sessionCookie)
			next := "/"
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			target := "/signin"
			if next != "/" {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		} else if err != nil {
			p.fail(w, r, err)
			return
		}
		h(w, r, s)
	})
}

// fail answers an unexpected error: logged, and a page that says what to
// do, never the error's text.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusForbidden:
			p.renderError(w, r, http.StatusForbidden, "Not allowed", ae.Message)
			return
		case http.StatusNotFound:
			p.renderError(w, r, http.StatusNotFound, "Not found", ae.Message)
			return
		case http.StatusTooManyRequests:
			p.renderError(w, r, http.StatusTooManyRequests, "Too many requests", ae.Message)
			return
		}
	}
	p.log.Error("portal: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	p.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"The Portal could not handle this request. Try again; if it keeps failing, the relay's log says why.")
}
