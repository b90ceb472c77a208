package relay

import (
	"html/template"
	"net/http"
)

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title></head>
<body>
<h1>{{.Name}}</h1>
<p>Version {{.Version}}</p>
<p>Portal coming.</p>
</body>
</html>
`))

// handleIndex is GET /: a placeholder until the portal exists.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	indexPage.Execute(w, struct{ Name, Version string }{Name, s.cfg.Version})
}
