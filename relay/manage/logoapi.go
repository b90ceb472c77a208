package manage

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

// LogoDataURL is the account's rectangular logo as a data: URL for the
// pages strangers open, or "" (none, or the store failed: the page goes
// on without it). The logo was checked and cleaned on upload.
func (s *API) LogoDataURL(ctx context.Context, accountID string) template.URL {
	l, err := s.k.Store.Logo(ctx, accountID, string(logo.Rect))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.k.Log.Warn("logo lookup", "err", err)
		}
		return ""
	}
	switch l.ContentType {
	case logo.PNG, logo.JPEG, logo.SVG:
		return template.URL("data:" + l.ContentType + ";base64," + base64.StdEncoding.EncodeToString(l.Data))
	}
	return ""
}

// logoCaller authenticates a member of {account} (id or name) and reads
// the {shape}; owner: only the account owner.
func (s *API) logoCaller(r *http.Request, owner bool) (api.Caller, store.Membership, logo.Shape, error) {
	a, m, err := s.k.AuthedMember(r)
	if err != nil {
		return a, m, "", err
	}
	if owner && m.Type != store.Owner {
		return a, m, "", api.Errf(http.StatusForbidden, api.CodeForbidden, "only the account owner changes the Portal logo")
	}
	sh := logo.Shape(r.PathValue("shape"))
	if !sh.Valid() {
		return a, m, sh, api.Errf(http.StatusNotFound, api.CodeNotFound, "no logo shape %q: rect or square", r.PathValue("shape"))
	}
	return a, m, sh, nil
}

func wireLogo(l store.Logo) wire.LogoInfo {
	return wire.LogoInfo{Shape: l.Shape, ContentType: l.ContentType, Version: strconv.FormatInt(l.UpdatedAt.UnixMilli(), 36)}
}

// handleLogos is GET /api/v1/accounts/{account}/logos: which logos the
// account has (any member: the Portal shows them to everyone).
func (s *API) handleLogos(w http.ResponseWriter, r *http.Request) error {
	_, me, err := s.k.AuthedMember(r)
	if err != nil {
		return err
	}
	ls, err := s.k.Store.Logos(r.Context(), me.AccountID)
	if err != nil {
		return err
	}
	out := []wire.LogoInfo{}
	for _, l := range ls {
		out = append(out, wireLogo(l))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleGetLogo is GET /api/v1/accounts/{account}/logos/{shape}: the
// image, with logo.Serve's restrictive headers.
func (s *API) handleGetLogo(w http.ResponseWriter, r *http.Request) error {
	_, me, sh, err := s.logoCaller(r, false)
	if err != nil {
		return err
	}
	l, err := s.k.Store.Logo(r.Context(), me.AccountID, string(sh))
	if errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "the account has no %s", sh.Label())
	} else if err != nil {
		return err
	}
	logo.Serve(w, r, l.ContentType, l.Data, wireLogo(l).Version)
	return nil
}

// handlePutLogo is PUT /api/v1/accounts/{account}/logos/{shape} (owner):
// the body is the JPG, PNG or SVG file itself, at most 0.3 MB.
func (s *API) handlePutLogo(w http.ResponseWriter, r *http.Request) error {
	a, me, sh, err := s.logoCaller(r, true)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, logo.MaxSize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return api.Errf(http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge, "the logo is larger than 0.3 MB")
	} else if err != nil {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "the logo could not be read")
	}
	ct, clean, err := logo.Check(sh, data)
	if errors.Is(err, logo.ErrRefused) {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "%s", err.Error()[len(logo.ErrRefused.Error())+2:])
	} else if err != nil {
		return err
	}
	l := store.Logo{AccountID: me.AccountID, Shape: string(sh), ContentType: ct, Data: clean, UpdatedAt: s.k.Now()}
	if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.SetLogo(r.Context(), l) }, func() api.Audit {
		return s.k.Rec(r, a, me.AccountID, EvLogoChanged, map[string]any{"shape": string(sh), "content_type": ct, "bytes": len(clean)})
	}); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, wireLogo(l))
	return nil
}

// handleDeleteLogo is DELETE /api/v1/accounts/{account}/logos/{shape}
// (owner): back to Tandem's logo.
func (s *API) handleDeleteLogo(w http.ResponseWriter, r *http.Request) error {
	a, me, sh, err := s.logoCaller(r, true)
	if err != nil {
		return err
	}
	if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.DeleteLogo(r.Context(), me.AccountID, string(sh)) }, func() api.Audit {
		return s.k.Rec(r, a, me.AccountID, EvLogoRemoved, map[string]any{"shape": string(sh)})
	}); errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "the account has no %s", sh.Label())
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
