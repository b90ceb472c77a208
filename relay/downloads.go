package relay

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tandem-rc/tandem/internal/setupname"
	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/frontdoor"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
)

// Installer downloads (spec 4.5.2): a deployment package's link
// /d/<enrollment key> opens an install page for the visitor's platform, and
// /d/<key>/<file> serves installers that carry the relay URL and the key,
// so that running one enrolls into that package. The link is the key
// itself: the relay keeps only key hashes, and whoever holds the link can
// enroll anyway. The installers come from Config.Downloads, a directory
// holding the output of `make packages`.

// Artifact kinds, by the names /d/<key>/<file> serves them under.
const (
	dlWindows = "tandem-host-setup.exe" // online installer: the Host's exe, renamed with setupname
	dlMac     = "tandem-host-setup.pkg" // likewise for macOS (built on a Mac)
	dlMSI     = "tandem-host.msi"       // mass deployment: msiexec ... RELAYURL= ENROLLMENTKEY=
	dlDeb     = "tandem-host.deb"
	dlRPM     = "tandem-host.rpm"
	dlScript  = "install.sh"  // Linux: fetches the deb or rpm and enrolls
	dlConf    = "enroll.conf" // pre-seeded configuration for deb, rpm and pkg
)

// artifactPatterns recognize `make packages` output: kind → name pattern
// whose first group is the architecture (Debian's or the package format's
// spelling, normalized by archOf).
var artifactPatterns = map[string]*regexp.Regexp{
	dlWindows: regexp.MustCompile(`^tandem-host-.+-(x64|arm64)\.exe$`),
	dlMSI:     regexp.MustCompile(`^tandem-host-.+-(x64|arm64)\.msi$`),
	dlMac:     regexp.MustCompile(`^tandem-host-.+-(universal|x64|arm64)\.pkg$`),
	dlDeb:     regexp.MustCompile(`^tandem-host_.+_(amd64|arm64)\.deb$`),
	dlRPM:     regexp.MustCompile(`^tandem-host-.+\.(x86_64|aarch64)\.rpm$`),
}

// logoPageCSP is the CSP of the install (/d/KEY) and OnDemand (/s/KEY)
// pages: no script; images only inline, which is how the account's logo
// comes (manage's LogoDataURL).
const logoPageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"

// archOf maps the spellings of packages and of `uname -m` to amd64/arm64.
func archOf(s string) string {
	switch strings.ToLower(s) {
	case "", "x64", "amd64", "x86_64", "universal":
		return "amd64"
	case "arm64", "aarch64":
		return "arm64"
	}
	return ""
}

type artifact struct {
	path string
	name string
	mod  time.Time
}

// artifact finds the newest file of kind for arch in the downloads
// directory; ok is false when there is none. The directory is read on each
// request: it is small, and an operator may publish a new build at any time.
func (s *Server) artifact(kind, arch string) (artifact, bool) {
	re := artifactPatterns[kind]
	if s.cfg.Downloads == "" || re == nil {
		return artifact{}, false
	}
	ents, err := os.ReadDir(s.cfg.Downloads)
	if err != nil {
		s.log.Warn("downloads directory unreadable", "dir", s.cfg.Downloads, "err", err)
		return artifact{}, false
	}
	var best artifact
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		if a := archOf(m[1]); a != arch && !(m[1] == "universal" && arch != "") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if best.name == "" || fi.ModTime().After(best.mod) {
			best = artifact{path: filepath.Join(s.cfg.Downloads, e.Name()), name: e.Name(), mod: fi.ModTime()}
		}
	}
	return best, best.name != ""
}

// platformOf guesses the visitor's platform from the request: "windows",
// "macos", "linux" or "" (offer everything).
func platformOf(r *http.Request) string {
	p := strings.Trim(strings.ToLower(r.Header.Get("Sec-CH-UA-Platform")), `"`)
	ua := r.Header.Get("User-Agent")
	switch {
	case p == "windows" || strings.Contains(ua, "Windows NT"):
		return "windows"
	case p == "macos" || (strings.Contains(ua, "Macintosh") && !strings.Contains(ua, "Mobile")):
		return "macos"
	case p == "linux" || (strings.Contains(ua, "Linux") && !strings.Contains(ua, "Android")):
		return "linux"
	}
	return ""
}

// dlPackage is a link's package, checked as enrollment would check it.
type dlPackage struct {
	key     string // canonical form
	pkg     store.Package
	account string
	relay   string // the relay URL installers carry
}

// dlLookup resolves the key in a download link. Failed lookups count
// against the same per-IP budget as failed enrollments: both guess keys.
func (s *Server) dlLookup(r *http.Request) (dlPackage, *apiError) {
	ip := remoteIP(r)
	// As for enrollment: a valid link (160-bit key) works even from a
	// source throttled for guessing; failures are charged and refused.
	blocked, retry := s.enrollLimit.blocked(source(ip))
	invalid := func(reason string) *apiError {
		if blocked {
			return &apiError{Status: http.StatusTooManyRequests, Code: api.CodeThrottled,
				Msg: "too many invalid installer links from this address; wait and try again", RetryAfter: retry}
		}
		s.enrollLimit.fail(source(ip))
		s.audit(auditRec{Event: EvDownloadFailed, Remote: ip, Detail: map[string]any{"reason": reason}})
		return errf(http.StatusNotFound, api.CodeInvalidKey, "this installer link is not valid; ask your administrator for a new one")
	}
	key, ok := secret.CanonicalEnrollmentKey(r.PathValue("key"))
	if !ok {
		return dlPackage{}, invalid("malformed_key")
	}
	hash, _ := secret.EnrollmentKeyHash(key)
	p, err := s.st.PackageByKeyHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return dlPackage{}, invalid("unknown_key")
	} else if err != nil {
		s.log.Error("download: package lookup", "err", err)
		return dlPackage{}, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay cannot look up this link right now; try again")
	}
	if ae := packageUsable(p, p.Devices, s.now()); ae != nil {
		ae.Status = http.StatusGone
		return dlPackage{}, ae
	}
	acct, err := s.st.Account(r.Context(), p.AccountID)
	if err != nil {
		s.log.Error("download: account lookup", "err", err)
		return dlPackage{}, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the relay cannot look up this link right now; try again")
	}
	return dlPackage{key: key, pkg: p, account: acct.Name, relay: s.publicBase(r)}, nil
}

// handleDownloadPage is GET /d/{key}: what this link installs, an "I
// understand" step, then the installer for this platform and the others.
func (s *Server) handleDownloadPage(w http.ResponseWriter, r *http.Request) {
	d, ae := s.dlLookup(r)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", logoPageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	if ae != nil {
		if ae.RetryAfter > 0 {
			h.Set("Retry-After", fmt.Sprint(int(ae.RetryAfter.Seconds()+0.999)))
		}
		w.WriteHeader(ae.Status)
		dlPage.Execute(w, dlView{Error: ae.Msg})
		return
	}
	v := dlView{
		Package: d.pkg.Name, Account: d.account, Relay: d.relay, Key: d.key,
		Link:       d.relay + "/d/" + d.key,
		Understood: r.URL.Query().Get("understood") == "1",
		Platform:   platformOf(r),
		Pending:    d.pkg.EnrollmentState == store.Pending,
		Logo:       s.mg.LogoDataURL(r.Context(), d.pkg.AccountID),
	}
	if a, ok := s.artifact(dlWindows, "amd64"); ok {
		v.Windows = a.name
	}
	if a, ok := s.artifact(dlMSI, "amd64"); ok {
		v.MSI = a.name
	}
	if a, ok := s.artifact(dlMac, "amd64"); ok {
		v.Mac = a.name
	}
	if a, ok := s.artifact(dlDeb, "amd64"); ok {
		v.Deb = a.name
	}
	if a, ok := s.artifact(dlRPM, "amd64"); ok {
		v.RPM = a.name
	}
	v.Linux = v.Deb != "" || v.RPM != ""
	if err := dlPage.Execute(w, v); err != nil {
		s.log.Debug("download page", "err", err)
	}
}

// handleDownloadFile is GET /d/{key}/{file}: one installer, named or filled
// in so that it enrolls into the link's package.
func (s *Server) handleDownloadFile(w http.ResponseWriter, r *http.Request) {
	d, ae := s.dlLookup(r)
	if ae != nil {
		s.writeError(w, r, ae)
		return
	}
	file := r.PathValue("file")
	w.Header().Set("Cache-Control", "no-store")
	serve := func(kind, arch string, name func(a artifact) (string, error)) {
		a, ok := s.artifact(kind, arch)
		if !ok {
			s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "this relay does not publish %s for %s; ask your administrator", file, arch))
			return
		}
		n, err := name(a)
		if err != nil {
			s.writeError(w, r, errf(http.StatusInternalServerError, api.CodeInternal, "the relay cannot name this installer: %v", err))
			return
		}
		f, err := os.Open(a.path)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("download %s: %w", a.name, err))
			return
		}
		defer f.Close()
		s.audit(auditRec{Event: EvDownload, Account: d.pkg.AccountID, Remote: remoteIP(r),
			Detail: map[string]any{"package": d.pkg.ID, "file": file, "build": a.name}}) // n carries the key
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", n))
		http.ServeContent(frontdoor.Download(w, r), r, "", a.mod, f)
	}
	plain := func(a artifact) (string, error) { return a.name, nil }
	arch := archOf(r.URL.Query().Get("arch"))
	if arch == "" {
		s.writeError(w, r, errf(http.StatusBadRequest, api.CodeBadRequest, "arch must be amd64 (x86_64) or arm64 (aarch64)"))
		return
	}
	switch file {
	case dlWindows:
		serve(dlWindows, arch, func(artifact) (string, error) { return setupname.Name(d.relay, d.key, "exe") })
	case dlMac:
		serve(dlMac, arch, func(artifact) (string, error) { return setupname.Name(d.relay, d.key, "pkg") })
	case dlMSI, dlDeb, dlRPM:
		serve(file, arch, plain)
	case dlScript:
		w.Header().Set("Content-Type", "text/x-shellscript; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="tandem-host-install.sh"`)
		s.audit(auditRec{Event: EvDownload, Account: d.pkg.AccountID, Remote: remoteIP(r),
			Detail: map[string]any{"package": d.pkg.ID, "file": dlScript}})
		installScript.Execute(w, dlView{Package: d.pkg.Name, Account: d.account, Relay: d.relay, Key: d.key})
	case dlConf:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="enroll.conf"`)
		fmt.Fprintf(w, "# Tandem Host enrollment for deployment package %q (%s).\n"+
			"# Linux: /etc/tandem/enroll.conf; macOS: /Library/Application Support/Tandem/enroll.conf\n"+
			"# (mode 0600), then install the package: it enrolls and deletes this file.\n"+
			"RELAY_URL=%s\nENROLLMENT_KEY=%s\n", oneLine(d.pkg.Name), oneLine(d.account), d.relay, d.key)
	default:
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound,
			"no installer %q here; use the install page, %s/d/<key>", file, d.relay))
	}
}

// oneLine keeps a name from breaking out of a comment line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

type dlView struct {
	Error                        string
	Package, Account, Relay, Key string
	Link                         string
	Understood, Pending          bool
	Platform                     string
	Windows, MSI, Mac, Deb, RPM  string
	Linux                        bool
	Logo                         template.URL // the account's rectangular logo, a data: URL (logoapi.go)
}

// shellQuote quotes s for POSIX sh in single quotes.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// installScript enrolls a Linux machine into d's package: it downloads the
// deb or rpm from this relay, pre-seeds /etc/tandem/enroll.conf (the key
// never appears on a command line) and lets the package's postinst enroll
// and start the service.
var installScript = texttemplate.Must(texttemplate.New("install.sh").Funcs(texttemplate.FuncMap{"sh": shellQuote, "line": oneLine}).Parse(`#!/bin/sh
# Tandem Host installer for the deployment package {{line .Package}} of {{line .Account}}.
# Run it as root:  curl -fsSL {{sh (printf "%s/d/%s/install.sh" .Relay .Key)}} | sudo sh
set -eu
RELAY_URL={{sh .Relay}}
ENROLLMENT_KEY={{sh .Key}}
say() { echo "tandem-install: $*" >&2; }
fail() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run this as root (sudo sh)"
[ "$(uname -s)" = Linux ] || fail "this installer is for Linux; open $RELAY_URL/d/$ENROLLMENT_KEY in a browser for the others"
case "$(uname -m)" in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) fail "no Tandem Host for $(uname -m)" ;;
esac
if command -v dpkg >/dev/null 2>&1; then
	fmt=deb
elif command -v rpm >/dev/null 2>&1; then
	fmt=rpm
else
	fail "this system has neither dpkg nor rpm"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
file="$tmp/tandem-host.$fmt"
url="$RELAY_URL/d/$ENROLLMENT_KEY/tandem-host.$fmt?arch=$arch"
say "downloading the Tandem Host ($fmt, $arch) from $RELAY_URL"
if command -v curl >/dev/null 2>&1; then
	curl -fsSL -o "$file" "$url" || fail "download failed"
elif command -v wget >/dev/null 2>&1; then
	wget -q -O "$file" "$url" || fail "download failed"
else
	fail "install curl or wget first"
fi

mkdir -p /etc/tandem
chmod 700 /etc/tandem
if [ -f /etc/tandem/host.json ]; then
	say "this computer is enrolled already: updating the Host, keeping its enrollment"
	say "(to move it to this package: tandem-host install --relay $RELAY_URL --key KEY)"
else
	(umask 077 && printf 'RELAY_URL=%s\nENROLLMENT_KEY=%s\n' "$RELAY_URL" "$ENROLLMENT_KEY" >/etc/tandem/enroll.conf)
fi

if [ "$fmt" = deb ]; then
	dpkg -i "$file" || { apt-get install -f -y && dpkg -i "$file"; } || fail "dpkg could not install the package"
elif command -v dnf >/dev/null 2>&1; then
	dnf install -y "$file" || fail "dnf could not install the package"
elif command -v yum >/dev/null 2>&1; then
	yum install -y "$file" || fail "yum could not install the package"
else
	rpm -U --replacepkgs "$file" || fail "rpm could not install the package"
fi
rm -f /etc/tandem/enroll.conf
[ -f /etc/tandem/host.json ] || fail "the Host is installed but NOT enrolled (see the messages above)"
say "done: this computer is enrolled with $RELAY_URL"
`))

var dlPage = template.Must(template.New("d").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Install the Tandem Host</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
.warn{border-left:4px solid #c80;background:#fff8e6;padding:.5rem 1rem}
.err{border-left:4px solid #b00;background:#fdecec;padding:.5rem 1rem}
.btn{display:inline-block;background:#0b5cad;color:#fff;padding:.6rem 1.2rem;border-radius:4px;text-decoration:none;border:0;font-size:1rem;cursor:pointer}
code,pre{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px;overflow-wrap:anywhere}
pre{padding:.6rem;white-space:pre-wrap}
details{margin:1rem 0}
.logo{display:block;max-width:240px;max-height:60px;margin-bottom:1rem}
</style></head><body>
{{with .Logo}}<img class="logo" src="{{.}}" alt="{{$.Account}}">{{end}}
<h1>Install the Tandem Host</h1>
{{if .Error}}<p class="err">{{.Error}}</p>
{{else}}
<p>This link installs the Tandem Host into <b>{{.Account}}</b>, deployment package <b>{{.Package}}</b>, at <code>{{.Relay}}</code>.
Once installed, technicians of {{.Account}} can connect to this computer as their roles allow.
{{if .Pending}}An administrator approves the computer before anyone can connect.{{end}}</p>
{{if not .Understood}}
<div class="warn"><p><b>Only continue if you trust whoever sent you this link.</b> Installing gives them remote access to this computer. Installing needs administrator rights.</p></div>
<form method="get"><input type="hidden" name="understood" value="1"><button class="btn" type="submit">I understand</button></form>
{{else}}
{{if eq .Platform "windows"}}{{template "windows" .}}{{else if eq .Platform "macos"}}{{template "macos" .}}{{else if eq .Platform "linux"}}{{template "linux" .}}{{end}}
<h2>{{if .Platform}}Other platforms{{else}}Choose your platform{{end}}</h2>
{{if ne .Platform "windows"}}<details><summary>Windows</summary>{{template "windows" .}}</details>{{end}}
{{if ne .Platform "macos"}}<details><summary>macOS</summary>{{template "macos" .}}</details>{{end}}
{{if ne .Platform "linux"}}<details><summary>Linux (deb, rpm)</summary>{{template "linux" .}}</details>{{end}}
{{end}}
{{end}}
</body></html>
{{define "windows"}}
{{if .Windows}}<p><a class="btn" href="/d/{{.Key}}/tandem-host-setup.exe">Download for Windows (64-bit)</a></p>
<p>Run the downloaded file as it is (administrator rights needed). <b>Do not rename it</b>: its name carries this package's key.</p>{{else}}<p>No Windows installer is published on this relay.</p>{{end}}
{{if .MSI}}<p>Mass deployment: <a href="/d/{{.Key}}/tandem-host.msi">{{.MSI}}</a>, installed silently with</p>
<pre>msiexec /i {{.MSI}} RELAYURL={{.Relay}} ENROLLMENTKEY={{.Key}} /qn</pre>{{end}}
{{end}}
{{define "macos"}}
{{if .Mac}}<p><a class="btn" href="/d/{{.Key}}/tandem-host-setup.pkg">Download for macOS</a></p>
<p>Open the downloaded package as it is. <b>Do not rename it</b>: its name carries this package's key.</p>{{else}}<p>No macOS installer is published on this relay.</p>{{end}}
{{end}}
{{define "linux"}}
{{if .Linux}}<p>In a terminal:</p>
<pre>curl -fsSL {{.Link}}/install.sh | sudo sh</pre>
<p>It installs the {{if .Deb}}deb{{end}}{{if and .Deb .RPM}} or {{end}}{{if .RPM}}rpm{{end}} package and enrolls this computer.
Or download {{if .Deb}}<a href="/d/{{.Key}}/tandem-host.deb">{{.Deb}}</a>{{end}}{{if and .Deb .RPM}} / {{end}}{{if .RPM}}<a href="/d/{{.Key}}/tandem-host.rpm">{{.RPM}}</a>{{end}}
with <a href="/d/{{.Key}}/enroll.conf">enroll.conf</a>: put it in <code>/etc/tandem/enroll.conf</code> (mode 0600) before installing the package.</p>
{{else}}<p>No Linux packages are published on this relay.</p>{{end}}
{{end}}
`))
