package relay

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/logo"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// The Portal logos of an account (spec 6.3); relay/logo checks, cleans
// and serves them.

const (
	EvLogoChanged = "account.logo_changed"
	EvLogoRemoved = "account.logo_removed"
)

// logoPageCSP is the CSP of the install (/d/KEY) and OnDemand (/s/KEY)
// pages: no script; images only inline, which is how the account's logo
// comes (logoDataURL).
const logoPageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"

// logoDataURL is the account's rectangular logo as a data: URL for the
// pages strangers open, or "" (none, or the store failed: the page goes
// on without it). The logo was checked and cleaned on upload.
func (s *Server) logoDataURL(ctx context.Context, accountID string) template.URL {
	l, err := s.st.Logo(ctx, accountID, string(logo.Rect))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("logo lookup", "err", err)
		}
		return ""
	}
	switch l.ContentType {
	case logo.PNG, logo.JPEG, logo.SVG:
		return template.URL("data:" + l.ContentType + ";base64," + base64.StdEncoding.EncodeToString(l.Data))
	}
	return ""
}

func (s *Server) logoRoutes() []route {
	return []route{
		{"GET", "/api/v1/accounts/{account}/logos", s.api(s.handleLogos)},
		{"GET", "/api/v1/accounts/{account}/logos/{shape}", s.api(s.handleGetLogo)},
		{"PUT", "/api/v1/accounts/{account}/logos/{shape}", s.api(s.handlePutLogo)},
		{"DELETE", "/api/v1/accounts/{account}/logos/{shape}", s.api(s.handleDeleteLogo)},
	}
}

// logoCaller authenticates a member of {account} (id or name) and reads
// the {shape}; owner: only the account owner.
func (s *Server) logoCaller(r *http.Request, owner bool) (authed, store.Membership, logo.Shape, error) {
	a, m, err := s.authedMember(r)
	if err != nil {
		return a, m, "", err
	}
	if owner && m.Type != store.Owner {
		return a, m, "", errf(http.StatusForbidden, api.CodeForbidden, "only the account owner changes the Portal logo")
	}
	sh := logo.Shape(r.PathValue("shape"))
	if !sh.Valid() {
		return a, m, sh, errf(http.StatusNotFound, api.CodeNotFound, "no logo shape %q: rect or square", r.PathValue("shape"))
	}
	return a, m, sh, nil
}

func wireLogo(l store.Logo) wire.LogoInfo {
	return wire.LogoInfo{Shape: l.Shape, ContentType: l.ContentType, Version: strconv.FormatInt(l.UpdatedAt.UnixMilli(), 36)}
}

// handleLogos is GET /api/v1/accounts/{account}/logos: which logos the
// account has (any member: the Portal shows them to everyone).
func (s *Server) handleLogos(w http.ResponseWriter, r *http.Request) error {
	_, me, err := s.authedMember(r)
	if err != nil {
		return err
	}
	ls, err := s.st.Logos(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	out := []wire.LogoInfo{}
	for _, l := range ls {
		out = append(out, wireLogo(l))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleGetLogo is GET /api/v1/accounts/{account}/logos/{shape}: the
// image, with logo.Serve's restrictive headers.
func (s *Server) handleGetLogo(w http.ResponseWriter, r *http.Request) error {
	_, me, sh, err := s.logoCaller(r, false)
	if err != nil {
		return err
	}
	l, err := s.st.Logo(r.Context(), me.AccountID, string(sh))
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "the account has no %s", sh.Label())
	} else if err != nil {
		return err
	}
	logo.Serve(w, r, l.ContentType, l.Data, wireLogo(l).Version)
	return nil
}

// handlePutLogo is PUT /api/v1/accounts/{account}/logos/{shape} (owner):
// the body is the JPG, PNG or SVG file itself, at most 0.3 MB.
func (s *Server) handlePutLogo(w http.ResponseWriter, r *http.Request) error {
	a, me, sh, err := s.logoCaller(r, true)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, logo.MaxSize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errf(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "the logo is larger than 0.3 MB")
	} else if err != nil {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "the logo could not be read")
	}
	ct, clean, err := logo.Check(sh, data)
	if errors.Is(err, logo.ErrRefused) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "%s", err.Error()[len(logo.ErrRefused.Error())+2:])
	} else if err != nil {
		return err
	}
	l := store.Logo{AccountID: me.AccountID, Shape: string(sh), ContentType: ct, Data: clean, UpdatedAt: s.now()}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.SetLogo(r.Context(), l) }, func() auditRec {
		return s.recAs(r, a, me.AccountID, EvLogoChanged, map[string]any{"shape": string(sh), "content_type": ct, "bytes": len(clean)})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireLogo(l))
	return nil
}

// handleDeleteLogo is DELETE /api/v1/accounts/{account}/logos/{shape}
// (owner): back to Tandem's logo.
func (s *Server) handleDeleteLogo(w http.ResponseWriter, r *http.Request) error {
	a, me, sh, err := s.logoCaller(r, true)
	if err != nil {
		return err
	}
	if err := s.commit(r.Context(), func(tx *store.Store) error { return tx.DeleteLogo(r.Context(), me.AccountID, string(sh)) }, func() auditRec {
		return s.recAs(r, a, me.AccountID, EvLogoRemoved, map[string]any{"shape": string(sh)})
	}); errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "the account has no %s", sh.Label())
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
