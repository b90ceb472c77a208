package logo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The SVG allowlist: shapes, paint and text. Everything else — script,
// foreignObject, image, a, animate/set (which can rewrite href), style
// (CSS can fetch), iframe, use of outside documents — is dropped with its
// whole subtree.
var svgElements = map[string]bool{
	"svg": true, "g": true, "defs": true, "symbol": true, "use": true, "title": true, "desc": true,
	"path": true, "rect": true, "circle": true, "ellipse": true, "line": true, "polyline": true, "polygon": true,
	"text": true, "tspan": true, "linearGradient": true, "radialGradient": true, "stop": true,
	"clipPath": true, "mask": true, "pattern": true,
}

var svgAttrs = map[string]bool{
	"id": true, "x": true, "y": true, "x1": true, "y1": true, "x2": true, "y2": true,
	"cx": true, "cy": true, "r": true, "rx": true, "ry": true, "fx": true, "fy": true, "width": true, "height": true,
	"d": true, "points": true, "viewBox": true, "preserveAspectRatio": true, "transform": true, "version": true,
	"fill": true, "fill-opacity": true, "fill-rule": true, "stroke": true, "stroke-width": true, "stroke-opacity": true,
	"stroke-linecap": true, "stroke-linejoin": true, "stroke-miterlimit": true, "stroke-dasharray": true,
	"stroke-dashoffset": true, "opacity": true, "clip-rule": true, "clip-path": true, "mask": true, "color": true,
	"offset": true, "stop-color": true, "stop-opacity": true, "gradientUnits": true, "gradientTransform": true,
	"spreadMethod": true, "patternUnits": true, "patternContentUnits": true, "patternTransform": true,
	"clipPathUnits": true, "maskUnits": true, "maskContentUnits": true,
	"font-family": true, "font-size": true, "font-weight": true, "font-style": true, "text-anchor": true,
	"dominant-baseline": true, "letter-spacing": true, "dx": true, "dy": true, "visibility": true, "display": true,
	"href": true, // local references only (#id), see cleanAttr
}

const (
	nsSVG   = "http://www.w3.org/2000/svg"
	nsXLink = "http://www.w3.org/1999/xlink"
	// Bounds on work per upload (the size is bounded already).
	maxDepth    = 64
	maxElements = 20000
)

// SanitizeSVG parses data as SVG and rebuilds it from the allowlist. It
// refuses what is not a well-formed SVG document, any DTD (so no entity,
// external or recursive), and processing instructions. It returns the
// clean document and the drawing's width and height (from viewBox, else
// width and height) for the ratio check.
func SanitizeSVG(data []byte) (clean []byte, w, h float64, err error) {
	if len(data) > MaxSize {
		return nil, 0, 0, refuse("the file is larger than 0.3 MB")
	}
	if !utf8.Valid(data) {
		return nil, 0, 0, refuse("the file is not a JPG, PNG or SVG image")
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil                                                                                        // only the five predefined entities
	dec.CharsetReader = func(string, io.Reader) (io.Reader, error) { return nil, errors.New("only UTF-8") } // no other charsets
	var out bytes.Buffer
	depth, skip, elements := 0, 0, 0 // skip > 0: inside a dropped subtree
	root := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, 0, refuse("the file is not a JPG, PNG or SVG image (%v)", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, 0, 0, refuse("SVG files with a DOCTYPE or entities are not accepted")
		case xml.ProcInst:
			if t.Target != "xml" || depth > 0 || root {
				return nil, 0, 0, refuse("SVG files with processing instructions are not accepted")
			}
		case xml.Comment:
		case xml.StartElement:
			depth++
			elements++
			if depth > maxDepth || elements > maxElements {
				return nil, 0, 0, refuse("the SVG is nested too deep or has too many elements")
			}
			if depth == 1 {
				if root || t.Name.Local != "svg" || t.Name.Space != nsSVG {
					return nil, 0, 0, refuse("the file is not a JPG, PNG or SVG image")
				}
				root = true
				if w, h, err = svgSize(t); err != nil {
					return nil, 0, 0, err
				}
			}
			if skip > 0 || t.Name.Space != nsSVG || !svgElements[t.Name.Local] {
				skip++
				continue
			}
			out.WriteByte('<')
			out.WriteString(t.Name.Local)
			if depth == 1 {
				out.WriteString(` xmlns="` + nsSVG + `"`)
			}
			for _, a := range t.Attr {
				name, val, ok := cleanAttr(t.Name.Local, a)
				if !ok {
					continue
				}
				out.WriteByte(' ')
				out.WriteString(name)
				out.WriteString(`="`)
				xml.EscapeText(&out, []byte(val))
				out.WriteByte('"')
			}
			out.WriteByte('>')
		case xml.EndElement:
			depth--
			if skip > 0 {
				skip--
				continue
			}
			out.WriteString("</" + t.Name.Local + ">")
		case xml.CharData:
			if skip > 0 || depth == 0 {
				continue
			}
			xml.EscapeText(&out, t)
		}
	}
	if !root {
		return nil, 0, 0, refuse("the file is not a JPG, PNG or SVG image")
	}
	return out.Bytes(), w, h, nil
}

// cleanAttr is the name and value under which attribute a of element el
// is kept, or false to drop it.
func cleanAttr(el string, a xml.Attr) (string, string, bool) {
	name := a.Name.Local
	switch {
	case a.Name.Space == nsXLink && name == "href":
	case a.Name.Space != "":
		return "", "", false // xmlns declarations (re-added), xml:*, foreign namespaces
	case !svgAttrs[name]:
		return "", "", false // on*, style, and anything unknown
	}
	v := strings.TrimSpace(a.Value)
	if len(v) > 64<<10 || strings.ContainsAny(v, "\x00") {
		return "", "", false
	}
	if name == "href" {
		// Only references inside this document: no javascript:, data:,
		// http(s): or other documents.
		if el != "use" && !strings.HasSuffix(el, "Gradient") && el != "pattern" || !localRef(v) {
			return "", "", false
		}
		return "href", v, true
	}
	if strings.Contains(strings.ToLower(v), "url(") {
		// fill="url(#grad)" and the like: a local reference only.
		l := strings.ToLower(v)
		if !strings.HasPrefix(l, "url(#") || !strings.HasSuffix(l, ")") || strings.Count(l, "url(") != 1 ||
			strings.ContainsAny(v[5:len(v)-1], "()'\"\\ :") {
			return "", "", false
		}
	}
	return name, v, true
}

func localRef(v string) bool {
	if len(v) < 2 || v[0] != '#' {
		return false
	}
	for _, c := range v[1:] {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// svgSize is the drawing's width and height: viewBox, else width and
// height in user units or px.
func svgSize(t xml.StartElement) (w, h float64, err error) {
	var vb, ws, hs string
	for _, a := range t.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "viewBox":
			vb = a.Value
		case "width":
			ws = a.Value
		case "height":
			hs = a.Value
		}
	}
	if vb != "" {
		f := strings.FieldsFunc(vb, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' })
		if len(f) == 4 {
			w, err1 := strconv.ParseFloat(f[2], 64)
			h, err2 := strconv.ParseFloat(f[3], 64)
			if err1 == nil && err2 == nil && w > 0 && h > 0 {
				return w, h, nil
			}
		}
		return 0, 0, refuse("the SVG's viewBox is not four numbers with a positive size")
	}
	num := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "px"), 64)
		return f, err == nil && f > 0
	}
	w, okw := num(ws)
	h, okh := num(hs)
	if !okw || !okh {
		return 0, 0, refuse("the SVG needs a viewBox (or a width and height in pixels) so its shape can be checked")
	}
	return w, h, nil
}
