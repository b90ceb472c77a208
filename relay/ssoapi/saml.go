package ssoapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/guard"
	"github.com/tandem-rc/tandem/relay/saml"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// SAML 2.0 sign-in (issue 17): the methods' API and the sign-in routes,
// wired like OIDC's (oidc.go) onto the methods' table. The protocol
// is relay/saml; pending sign-ins and used assertion ids are rows of the
// database, so any node finishes a sign-in and refuses a replay.

const (
	EvSAMLCreated  = "saml.created"
	EvSAMLMetadata = "saml.metadata"
	EvSAMLDeleted  = "saml.deleted"

	SAMLACSPath       = "/api/v1/sso/saml/acs"
	portalSAMLACSPath = "/sso/saml/acs" // the Portal's (relay/portal/samlsso.go)
)

func (s *API) samlRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/accounts/{account}/saml", H: s.handleSAMLMethods},
		{Method: "POST", Path: "/api/v1/accounts/{account}/saml", H: s.handleCreateSAMLMethod},
		{Method: "PUT", Path: "/api/v1/accounts/{account}/saml/{id}/metadata", H: s.handleSAMLMetadataUpload},
		{Method: "DELETE", Path: "/api/v1/accounts/{account}/saml/{id}", H: s.handleDeleteSAMLMethod},
		{Method: "POST", Path: "/api/v1/accounts/{account}/saml/{id}/groups", H: s.handleImportSAMLGroup},
		{Method: "GET", Path: "/api/v1/sso/saml/{id}/metadata", H: s.handleSAMLSPMetadata},
		{Method: "POST", Path: "/api/v1/sso/saml/start", H: s.handleSAMLStart},
		{Method: "POST", Path: SAMLACSPath, H: s.handleSAMLACS},
	}
}

// samlConfig is a method's stored configuration: its settings and the
// IdP's metadata document as uploaded.
type samlConfig struct {
	wire.SAMLMethod
	Metadata string `json:"metadata,omitempty"`
}

// samlPending is a sign-in under way (a row of sso_pending).
type samlPending struct {
	Method    string `json:"m"`
	Domain    string `json:"d"`
	RequestID string `json:"r"`
	Next      string `json:"n,omitempty"`
	ACS       string `json:"a"` // the ACS path the response must reach
}

// samlEntityID is the SP's entity id of method id: its metadata URL, one
// per method so that an assertion made for one method is refused by
// another (audience).
func (s *API) samlEntityID(r *http.Request, id string) string {
	return s.cfg.PublicBase(r) + "/api/v1/sso/saml/" + id + "/metadata"
}

// samlMethod reads a stored method: its wire form (with the relay's
// URLs and the IdP's certificates) and its configuration.
func (s *API) samlMethod(r *http.Request, m store.LDAPMethod) (wire.SAMLMethod, samlConfig, error) {
	var c samlConfig
	if err := json.Unmarshal([]byte(m.Config), &c); err != nil {
		return wire.SAMLMethod{}, c, err
	}
	w := c.SAMLMethod
	w.ID, w.Enabled = m.ID, m.Enabled
	w.EntityID, w.ACSURL, w.PortalACSURL = s.samlEntityID(r, m.ID), s.cfg.PublicBase(r)+SAMLACSPath, s.cfg.PublicBase(r)+portalSAMLACSPath
	if c.Metadata != "" {
		if _, idp, err := saml.ParseMetadata([]byte(c.Metadata)); err == nil {
			w.IdPEntityID, w.IdPSSOURL = idp.EntityID, idp.SSOURL
			for _, c := range idp.Certs {
				w.IdPCerts = append(w.IdPCerts, wire.SAMLCert(c))
			}
		}
	}
	return w, c, nil
}

// samlSP builds the service provider of m, its responses posted to acs.
func (s *API) samlSP(r *http.Request, m store.LDAPMethod, c samlConfig, acs string) (*saml.SP, error) {
	return saml.New(saml.Config{Metadata: c.Metadata, GroupsAttribute: c.GroupsAttribute}, s.samlEntityID(r, m.ID), s.cfg.PublicBase(r)+acs, s.k.Now,
		func(id string, exp time.Time) error { return s.k.Store.UseAssertion(r.Context(), m.ID+":"+id, exp) })
}

// handleSAMLMethods is GET /api/v1/accounts/{account}/saml.
func (s *API) handleSAMLMethods(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.k.Admin(r, "manage authentication")
	if err != nil {
		return err
	}
	ms, err := s.k.Store.SAMLMethods(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	out := []wire.SAMLMethod{}
	for _, sm := range ms {
		wm, _, err := s.samlMethod(r, sm)
		if err != nil {
			return err
		}
		out = append(out, wm)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleCreateSAMLMethod is POST /api/v1/accounts/{account}/saml: the
// method is usable once its IdP's metadata is uploaded.
func (s *API) handleCreateSAMLMethod(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "manage authentication")
	if err != nil {
		return err
	}
	var req wire.SAMLMethod
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID != "" || req.IdPEntityID != "" || req.IdPSSOURL != "" || len(req.IdPCerts) > 0 || req.EntityID != "" || req.ACSURL != "" || req.PortalACSURL != "" {
		return api.Badf("id, the IdP's settings and the relay's URLs are set by the relay (upload the IdP's metadata)")
	}
	if err := checkDomainButton(&req.Domain, req.Button); err != nil {
		return err
	}
	if len(req.GroupsAttribute) > 256 {
		return api.Badf("groups_attribute: at most 256 bytes")
	}
	if err := s.checkDefaultGroup(r, m.AccountID, req.DefaultGroup); err != nil {
		return err
	}
	enabled := req.Enabled
	req.Enabled = false
	raw, _ := json.Marshal(samlConfig{SAMLMethod: req})
	lm := store.LDAPMethod{AccountID: m.AccountID, Domain: req.Domain, Enabled: enabled, Config: string(raw), Kind: store.AuthSAML}
	err = s.k.Commit(r.Context(), func(tx *store.Store) (err error) {
		lm, err = tx.CreateLDAPMethod(r.Context(), lm)
		return err
	}, func() api.Audit {
		return s.k.Rec(r, a, m.AccountID, EvSAMLCreated, map[string]any{"saml": lm.ID, "domain": lm.Domain})
	})
	if errors.Is(err, store.ErrConflict) {
		return api.Errf(http.StatusConflict, api.CodeConflict, "the domain %q is taken on this relay", req.Domain)
	} else if err != nil {
		return err
	}
	out, _, err := s.samlMethod(r, lm)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// handleSAMLMetadataUpload is PUT /api/v1/accounts/{account}/saml/{id}/metadata:
// the IdP's metadata document (FederationMetadata.xml) as the body. It
// must parse, with a redirect sign-on URL and a signing certificate.
func (s *API) handleSAMLMetadataUpload(w http.ResponseWriter, r *http.Request) error {
	a, m, err := s.k.Admin(r, "manage authentication")
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, saml.MaxMetadata))
	if err != nil {
		return api.Errf(http.StatusRequestEntityTooLarge, api.CodeBadRequest, "the metadata is over %d bytes", saml.MaxMetadata)
	}
	_, idp, err := saml.ParseMetadata(raw)
	if err != nil {
		return api.Badf("%v", err)
	}
	ms, err := s.k.Store.SAMLMethods(r.Context(), m.AccountID)
	if err != nil {
		return err
	}
	var lm store.LDAPMethod
	for _, x := range ms {
		if x.ID == r.PathValue("id") {
			lm = x
		}
	}
	if lm.ID == "" {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no SAML method %q in this account", r.PathValue("id"))
	}
	var c samlConfig
	if err := json.Unmarshal([]byte(lm.Config), &c); err != nil {
		return err
	}
	c.Metadata = string(raw)
	cfg, _ := json.Marshal(c)
	lm.Config = string(cfg)
	if err := s.k.Commit(r.Context(), func(tx *store.Store) error { return tx.UpdateMethodConfig(r.Context(), lm) }, func() api.Audit {
		return s.k.Rec(r, a, m.AccountID, EvSAMLMetadata, map[string]any{"saml": lm.ID, "idp": api.Clip(idp.EntityID, 256), "certs": len(idp.Certs)})
	}); err != nil {
		return err
	}
	out, _, err := s.samlMethod(r, lm)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleDeleteSAMLMethod is DELETE /api/v1/accounts/{account}/saml/{id}.
func (s *API) handleDeleteSAMLMethod(w http.ResponseWriter, r *http.Request) error {
	return s.cfg.DeleteMethod(w, r, store.AuthSAML, EvSAMLDeleted)
}

// handleImportSAMLGroup is POST /api/v1/accounts/{account}/saml/{id}/groups:
// a group named as the IdP's groups attribute names it (Azure AD sends
// object ids, or names when the application's group claim says so).
func (s *API) handleImportSAMLGroup(w http.ResponseWriter, r *http.Request) error {
	return s.cfg.ImportGroup(w, r, store.AuthSAML, nil)
}

// handleSAMLSPMetadata is GET /api/v1/sso/saml/{id}/metadata: the SP's
// metadata for the IdP's administrator (public, as metadata is).
func (s *API) handleSAMLSPMetadata(w http.ResponseWriter, r *http.Request) error {
	m, c, err := s.samlByID(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	sp, err := s.samlSP(r, m, c, SAMLACSPath)
	if err != nil {
		return api.Errf(http.StatusConflict, api.CodeConflict, "the IdP's metadata of this method is missing or refused; upload it first")
	}
	md, err := sp.Metadata(s.cfg.PublicBase(r) + portalSAMLACSPath)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(md)
	return nil
}

// samlByID finds an enabled SAML method by id, relay-wide (unauthenticated
// routes name it).
func (s *API) samlByID(r *http.Request, id string) (store.LDAPMethod, samlConfig, error) {
	m, err := s.k.Store.LDAPMethodByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (m.Kind != store.AuthSAML || !m.Enabled)) {
		return m, samlConfig{}, api.Errf(http.StatusNotFound, api.CodeNotFound, "no SAML sign-in %q", api.Clip(id, 64))
	} else if err != nil {
		return m, samlConfig{}, err
	}
	_, c, err := s.samlMethod(r, m)
	return m, c, err
}

// handleSAMLStart is POST /api/v1/sso/saml/start: DOMAIN\user (or DOMAIN)
// to the IdP's sign-on URL with a new authentication request, whose id
// is kept (bounded, as OIDC's) until the response comes back.
func (s *API) handleSAMLStart(w http.ResponseWriter, r *http.Request) error {
	req, m, err := s.ssoStartRequest(w, r, store.AuthSAML)
	if err != nil {
		return err
	}
	_, c, err := s.samlMethod(r, m)
	if err != nil {
		return err
	}
	acs := SAMLACSPath
	if req.Portal {
		acs = portalSAMLACSPath
	}
	sp, err := s.samlSP(r, m, c, acs)
	if err != nil {
		return api.Errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the SAML sign-in of %s is not set up (no IdP metadata); tell an administrator", m.Domain)
	}
	state := secret.NewToken()
	u, reqID, err := sp.Begin(state)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(samlPending{Method: m.ID, Domain: m.Domain, RequestID: reqID, Next: req.Next, ACS: acs})
	err = s.k.Store.PutPending(r.Context(), store.AuthSAML, state, string(data), s.k.Now().Add(flowTTL), maxFlows)
	if errors.Is(err, store.ErrFull) {
		return api.Errf(http.StatusServiceUnavailable, api.CodeUnavailable, "too many sign-ins under way; try again in a minute")
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, wire.SSORedirect{URL: u})
	return nil
}

// handleSAMLACS is POST /api/v1/sso/saml/acs, where the IdP's form posts
// SAMLResponse and RelayState (the pending sign-in's state). The Portal's
// ACS posts the same here with wire.SSOFinish's JSON.
func (s *API) handleSAMLACS(w http.ResponseWriter, r *http.Request) error {
	if err := s.ssoBlocked(r); err != nil {
		return err
	}
	var resp, state, via string
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) == "application/json" {
		var req wire.SSOFinish
		if err := api.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		resp, state, via = req.Code, req.State, portalSAMLACSPath
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, saml.MaxResponse+4096)
		if err := r.ParseForm(); err != nil {
			return s.samlRefuse(r, "", "", "oversized_answer", nil)
		}
		resp, state, via = r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState"), SAMLACSPath
	}
	if len(state) > 256 || len(resp) > saml.MaxResponse {
		return s.samlRefuse(r, "", "", "oversized_answer", nil)
	}
	var p samlPending
	data, err := s.k.Store.TakePending(r.Context(), store.AuthSAML, state)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (json.Unmarshal([]byte(data), &p) != nil || p.ACS != via)) {
		return s.samlRefuse(r, "", "", "unknown_state", nil) // a Portal sign-in ends at the Portal, an API one at the API
	} else if err != nil {
		return err
	}
	if via == portalSAMLACSPath {
		w.Header().Set(wire.HeaderSSONext, p.Next)
	}
	m, err := s.k.Store.LDAPMethodByDomain(r.Context(), p.Domain)
	if err == nil && (m.ID != p.Method || !m.Enabled || m.Kind != store.AuthSAML) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return s.samlRefuse(r, "", "", "method_gone", nil)
	} else if err != nil {
		return err
	}
	wm, c, err := s.samlMethod(r, m)
	if err != nil {
		return err
	}
	sp, err := s.samlSP(r, m, c, p.ACS)
	if err != nil {
		return s.samlRefuse(r, m.AccountID, "", "metadata_refused", map[string]any{"error": api.Clip(err.Error(), 256)})
	}
	id, err := sp.Finish(resp, p.RequestID)
	switch {
	case errors.Is(err, saml.ErrReplay):
		return s.samlRefuse(r, m.AccountID, "", "assertion_replayed", nil)
	case err != nil:
		return s.samlRefuse(r, m.AccountID, "", "assertion_refused", map[string]any{"error": api.Clip(err.Error(), 256)})
	}
	return s.signIn(w, r, m, id.Subject, id.Username, id.Email, id.DisplayName, id.Groups, wm.DefaultGroup)
}

// samlRefuse audits a refused SAML sign-in.
func (s *API) samlRefuse(r *http.Request, account, user, reason string, detail map[string]any) error {
	return s.ssoRefuse(r, store.AuthSAML, account, user, reason, detail)
}

// ssoRefuse audits a refused sign-in through an IdP (auth: OIDC or SAML),
// which counts as a failed login of the address (so a flood is throttled,
// and then no longer audited).
func (s *API) ssoRefuse(r *http.Request, auth, account, user, reason string, detail map[string]any) error {
	ip := api.RemoteIP(r)
	s.cfg.Failed(guard.Source(ip))
	if detail == nil {
		detail = map[string]any{}
	}
	detail["reason"], detail["auth"] = reason, auth
	s.k.Record(api.Audit{Event: s.cfg.EvLoginFailed, Account: account, User: user, Remote: ip, Detail: detail})
	status := http.StatusUnauthorized
	if reason == "unknown_state" || reason == "oversized_answer" {
		status = http.StatusBadRequest // not a sign-in of anyone yet
	}
	return api.Errf(status, api.CodeBadCredentials, "%s", fmt.Sprintf("single sign-on failed (%s); start again", strings.ReplaceAll(reason, "_", " ")))
}
