package relay

import (
	"errors"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// API keys (seed 002: users with the API role generate and manage their
// keys on their profile). The role is the membership's API flag.

func wireAPIKey(k store.APIKey) wire.APIKey {
	out := wire.APIKey{ID: k.ID, AccountID: k.AccountID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt.Unix(),
		ExpiresAt: k.ExpiresAt.Unix()}
	if !k.LastUsed.IsZero() {
		out.LastUsed = k.LastUsed.Unix()
	}
	return out
}

// handleCreateAPIKey is POST /api/v1/me/api-keys: a key for one account in
// which the caller has the API role; the key is shown once. Every key
// expires: by default after Config.APIKeyDays, at most APIKeyMaxDays.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	var req wire.APIKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Account == "" || len(req.Account) > maxID {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "account (an account id) is required")
	}
	if err := checkText("name", req.Name, maxShortText); err != nil {
		return err
	}
	now := s.now()
	expires := now.AddDate(0, 0, s.cfg.APIKeyDays)
	if req.ExpiresAt != 0 {
		expires = time.Unix(req.ExpiresAt, 0)
		if !expires.After(now) || expires.After(now.AddDate(0, 0, s.cfg.APIKeyMaxDays)) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "expires_at: a time in the next %d days (unix seconds), or none for %d days",
				s.cfg.APIKeyMaxDays, s.cfg.APIKeyDays)
		}
	}
	ctx := r.Context()
	me, err := s.st.AccountUser(ctx, req.Account, a.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no account %q among yours", req.Account)
	} else if err != nil {
		return err
	}
	if me.Disabled || !me.API {
		return errf(http.StatusForbidden, api.CodeForbidden, "you do not have the API role in this account; ask an administrator")
	}
	key := apiKeyPrefix + secret.NewToken()
	var k store.APIKey
	err = s.atomically(ctx, func(tx *store.Store, audit func(auditRec)) error {
		var err error
		k, err = tx.CreateAPIKey(ctx, store.APIKey{AccountID: me.AccountID, UserID: a.User.ID, Name: req.Name,
			Prefix: key[:len(apiKeyPrefix)+6], Hash: secret.Hash(key), CreatedAt: now, ExpiresAt: expires})
		audit(auditRec{Event: EvAPIKeyCreated, Account: me.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"key": k.ID, "prefix": k.Prefix, "name": k.Name, "expires_at": k.ExpiresAt.Unix()}})
		return err
	})
	if err != nil {
		return err
	}
	out := wireAPIKey(k)
	out.Key = key
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// handleListAPIKeys is GET /api/v1/me/api-keys.
func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	ks, err := s.st.APIKeys(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	out := make([]wire.APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, wireAPIKey(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleDeleteAPIKey is DELETE /api/v1/me/api-keys/{id}.
func (s *Server) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if err := requireLogin(a); err != nil {
		return err
	}
	id := r.PathValue("id")
	ks, err := s.st.APIKeys(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	var k store.APIKey
	for _, x := range ks {
		if x.ID == id {
			k = x
		}
	}
	if k.ID == "" {
		return errf(http.StatusNotFound, api.CodeNotFound, "no API key %q of yours", id)
	}
	err = s.atomically(r.Context(), func(tx *store.Store, audit func(auditRec)) error {
		audit(auditRec{Event: EvAPIKeyRevoked, Account: k.AccountID, User: a.User.ID, Remote: remoteIP(r),
			Detail: map[string]any{"key": k.ID, "prefix": k.Prefix}})
		return tx.DeleteAPIKey(r.Context(), a.User.ID, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, api.CodeNotFound, "no API key %q of yours", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
