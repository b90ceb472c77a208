package relay

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The OnDemand link RELAY/s/<key> (spec 3.2.1): who asks for access, the
// warning to go on only if the link came from someone trusted, "I
// understand", then tandem-ondemand for the visitor's platform first and
// the others below. /s/<key>/<file> serves a binary renamed to carry the
// relay and the key (setupname.OnDemandName), so that it joins without
// anything typed.
//
// The binaries come from Config.Downloads, under these exact names.
var odBinaries = []struct {
	File, Platform, Label, Ext string
}{
	{"tandem-ondemand-windows-amd64.exe", "windows", "Windows (64-bit)", "exe"},
	{"tandem-ondemand-darwin-universal", "macos", "macOS", ""},
	{"tandem-ondemand-linux-amd64", "linux", "Linux (x86-64)", ""},
	{"tandem-ondemand-linux-arm64", "linux", "Linux (ARM64)", ""},
}

// odLink is a link's OnDemand session, ready for the page.
type odLink struct {
	o          store.OnDemand
	key        string
	account    string
	technician string
	relay      string
}

// odLinkLookup resolves /s/{key}. Unknown keys count against the
// enrollment throttle of the caller's address (they guess keys) and are
// audited without the key; dead keys answer 410 with the reason.
func (s *Server) odLinkLookup(r *http.Request) (odLink, *apiError) {
	ip := remoteIP(r)
	if blocked, retry := s.enrollLimit.blocked(source(ip)); blocked {
		return odLink{}, &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
			Msg: "too many invalid session links from this address; wait and try again", RetryAfter: retry}
	}
	refuse := func(o store.OnDemand, reason string, ae *apiError) *apiError {
		s.enrollLimit.fail(source(ip))
		s.audit(auditRec{Event: EvODKeyRejected, Account: o.AccountID, Remote: ip,
			Detail: map[string]any{"reason": reason, "ondemand": o.ID, "via": "link"}})
		return ae
	}
	o, key, err := s.odByKey(r.Context(), r.PathValue("key"))
	if errors.Is(err, store.ErrNotFound) {
		return odLink{}, refuse(o, "unknown_key", errf(http.StatusNotFound, api.CodeInvalidKey,
			"this session link is not valid; check it with your technician"))
	} else if err != nil {
		s.log.Error("ondemand link: lookup", "err", err)
		return odLink{}, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay cannot look up this link right now; try again")
	}
	if o.State != store.ODCreated {
		return odLink{}, refuse(o, "key_"+o.State, errf(http.StatusGone, wire.CodeOnDemandOver, "%s; ask your technician for a new link", odOver(o)))
	}
	acct, err := s.st.Account(r.Context(), o.AccountID)
	if err != nil {
		s.log.Error("ondemand link: account lookup", "err", err)
		return odLink{}, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay cannot look up this link right now; try again")
	}
	tech := ""
	if u, err := s.st.User(r.Context(), o.CreatedBy); err == nil {
		tech = u.Name
		if tech == "" {
			tech = u.Email
		}
	}
	return odLink{o: o, key: key, account: acct.Name, technician: tech, relay: s.publicBase(r)}, nil
}

type odDownload struct{ File, Label string }

type odView struct {
	Error                     string
	Account, Technician, Key  string
	Understood                bool
	Primary, Others           []odDownload
	PlatformKnown, NoBinaries bool
	Logo                      template.URL // the account's rectangular logo, a data: URL (logoapi.go)
}

// odPublished lists the binaries present in the downloads directory.
func (s *Server) odPublished() map[string]bool {
	out := map[string]bool{}
	if s.cfg.Downloads == "" {
		return out
	}
	for _, b := range odBinaries {
		if fi, err := os.Stat(filepath.Join(s.cfg.Downloads, b.File)); err == nil && fi.Mode().IsRegular() {
			out[b.File] = true
		}
	}
	return out
}

func odHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", logoPageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
}

// handleODPage is GET /s/{key}.
func (s *Server) handleODPage(w http.ResponseWriter, r *http.Request) {
	l, ae := s.odLinkLookup(r)
	odHeaders(w)
	if ae != nil {
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(ae.RetryAfter.Seconds()+0.999)))
		}
		w.WriteHeader(ae.Status)
		odPage.Execute(w, odView{Error: ae.Msg})
		return
	}
	v := odView{Account: l.account, Technician: l.technician, Key: l.key,
		Understood: r.URL.Query().Get("understood") == "1", Logo: s.mg.LogoDataURL(r.Context(), l.o.AccountID)}
	platform := platformOf(r)
	pub := s.odPublished()
	for _, b := range odBinaries {
		if !pub[b.File] {
			continue
		}
		d := odDownload{File: b.File, Label: b.Label}
		if b.Platform == platform {
			v.Primary = append(v.Primary, d)
		} else {
			v.Others = append(v.Others, d)
		}
	}
	v.PlatformKnown = platform != ""
	v.NoBinaries = len(v.Primary)+len(v.Others) == 0
	if err := odPage.Execute(w, v); err != nil {
		s.log.Debug("ondemand page", "err", err)
	}
}

// handleODFile is GET /s/{key}/{file}: a tandem-ondemand binary named so
// that it joins this session.
func (s *Server) handleODFile(w http.ResponseWriter, r *http.Request) {
	l, ae := s.odLinkLookup(r)
	if ae != nil {
		s.writeError(w, r, ae)
		return
	}
	file := r.PathValue("file")
	i := slices.IndexFunc(odBinaries, func(b struct{ File, Platform, Label, Ext string }) bool { return b.File == file })
	if i < 0 || !s.odPublished()[file] {
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "this relay does not publish %q; use the session page, %s/s/<key>", file, l.relay))
		return
	}
	name, err := setupname.OnDemandName(l.relay, l.key, odBinaries[i].Ext)
	if err != nil {
		s.writeError(w, r, errf(http.StatusInternalServerError, api.CodeInternal, "the relay cannot name this program: %v", err))
		return
	}
	f, err := os.Open(filepath.Join(s.cfg.Downloads, file))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("ondemand download %s: %w", file, err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.writeError(w, r, fmt.Errorf("ondemand download %s: %w", file, err))
		return
	}
	s.audit(auditRec{Event: EvODDownload, Account: l.o.AccountID, Remote: remoteIP(r),
		Detail: map[string]any{"ondemand": l.o.ID, "file": file}}) // name carries the key
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	http.ServeContent(frontdoor.Download(w, r), r, "", fi.ModTime(), f)
}

var odPage = template.Must(template.New("s").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>OnDemand Session</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
.warn{border-left:4px solid #c80;background:#fff8e6;padding:.5rem 1rem}
.err{border-left:4px solid #b00;background:#fdecec;padding:.5rem 1rem}
.btn{display:inline-block;background:#0b5cad;color:#fff;padding:.6rem 1.2rem;border-radius:4px;text-decoration:none;border:0;font-size:1rem;cursor:pointer;margin:.2rem 0}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}
.key{font:600 1.4rem/1.2 ui-monospace,monospace;letter-spacing:.1em}
.logo{display:block;max-width:240px;max-height:60px;margin-bottom:1rem}
</style></head><body>
{{with .Logo}}<img class="logo" src="{{.}}" alt="{{$.Account}}">{{end}}
<h1>OnDemand Session</h1>
{{if .Error}}<p class="err">{{.Error}}</p>
{{else}}
<p>{{if .Technician}}<b>{{.Technician}}</b> of {{end}}<b>{{.Account}}</b> asks to access and control this device remotely, to help you.</p>
<p>Before a connection can be made, download the Tandem OnDemand program and run it on this device. Nothing is installed; the program works for one session and then ends.</p>
{{if not .Understood}}
<div class="warn"><p><b>Once the program is connected, this device can be reached remotely by a support technician.</b> Only continue if you received this link from someone you trust.</p></div>
<form method="get"><input type="hidden" name="understood" value="1"><button class="btn" type="submit">I understand</button></form>
{{else}}
<p>Session key: <span class="key">{{.Key}}</span></p>
{{if .NoBinaries}}<p class="err">No OnDemand program is published on this relay; tell your technician.</p>{{end}}
{{range .Primary}}<p><a class="btn" href="/s/{{$.Key}}/{{.File}}">Download for {{.Label}}</a></p>{{end}}
{{if .Others}}<h2>{{if .PlatformKnown}}Other platforms{{else}}Choose your platform{{end}}</h2>
<ul>{{range .Others}}<li><a href="/s/{{$.Key}}/{{.File}}">Download for {{.Label}}</a></li>{{end}}</ul>{{end}}
<p>Run the downloaded file as it is. <b>Do not rename it</b>: its name carries this session's key. Your technician sees you in their queue once it runs; you will be asked to allow the session before anything is shared.</p>
{{end}}
{{end}}
</body></html>
`))
