package manage

import (
	"errors"
	"net/http"
	"time"

	"github.com/tandem-rc/tandem/relay/api"
	"github.com/tandem-rc/tandem/relay/secret"
	"github.com/tandem-rc/tandem/relay/store"
	"github.com/tandem-rc/tandem/transport/wire"
)

// Events of API keys.
const (
	EvAPIKeyCreated = "apikey.created"
	EvAPIKeyRevoked = "apikey.revoked"
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
func (s *API) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	if err := api.RequireLogin(a); err != nil {
		return err
	}
	var req wire.APIKeyRequest
	if err := api.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Account == "" || len(req.Account) > api.MaxID {
		return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "account (an account id) is required")
	}
	if err := api.CheckText("name", req.Name, api.MaxShortText); err != nil {
		return err
	}
	now := s.k.Now()
	expires := now.AddDate(0, 0, s.cfg.APIKeyDays)
	if req.ExpiresAt != 0 {
		expires = time.Unix(req.ExpiresAt, 0)
		if !expires.After(now) || expires.After(now.AddDate(0, 0, s.cfg.APIKeyMaxDays)) {
			return api.Errf(http.StatusBadRequest, api.CodeBadRequest, "expires_at: a time in the next %d days (unix seconds), or none for %d days",
				s.cfg.APIKeyMaxDays, s.cfg.APIKeyDays)
		}
	}
	ctx := r.Context()
	me, err := s.k.Store.AccountUser(ctx, req.Account, a.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no account %q among yours", req.Account)
	} else if err != nil {
		return err
	}
	if me.Disabled || !me.API {
		return api.Errf(http.StatusForbidden, api.CodeForbidden, "you do not have the API role in this account; ask an administrator")
	}
	key := api.APIKeyPrefix + secret.NewToken()
	var k store.APIKey
	err = s.k.Atomically(ctx, func(tx *store.Store, audit func(api.Audit)) error {
		var err error
		k, err = tx.CreateAPIKey(ctx, store.APIKey{AccountID: me.AccountID, UserID: a.User.ID, Name: req.Name,
			Prefix: key[:len(api.APIKeyPrefix)+6], Hash: secret.Hash(key), CreatedAt: now, ExpiresAt: expires})
		audit(api.Audit{Event: EvAPIKeyCreated, Account: me.AccountID, User: a.User.ID, Remote: api.RemoteIP(r),
			Detail: map[string]any{"key": k.ID, "prefix": k.Prefix, "name": k.Name, "expires_at": k.ExpiresAt.Unix()}})
		return err
	})
	if err != nil {
		return err
	}
	out := wireAPIKey(k)
	out.Key = key
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// handleListAPIKeys is GET /api/v1/me/api-keys.
func (s *API) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	if err := api.RequireLogin(a); err != nil {
		return err
	}
	ks, err := s.k.Store.APIKeys(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	out := make([]wire.APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, wireAPIKey(k))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// handleDeleteAPIKey is DELETE /api/v1/me/api-keys/{id}.
func (s *API) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.k.Authenticate(r)
	if err != nil {
		return err
	}
	if err := api.RequireLogin(a); err != nil {
		return err
	}
	id := r.PathValue("id")
	ks, err := s.k.Store.APIKeys(r.Context(), a.User.ID)
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
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no API key %q of yours", id)
	}
	err = s.k.Atomically(r.Context(), func(tx *store.Store, audit func(api.Audit)) error {
		audit(api.Audit{Event: EvAPIKeyRevoked, Account: k.AccountID, User: a.User.ID, Remote: api.RemoteIP(r),
			Detail: map[string]any{"key": k.ID, "prefix": k.Prefix}})
		return tx.DeleteAPIKey(r.Context(), a.User.ID, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return api.Errf(http.StatusNotFound, api.CodeNotFound, "no API key %q of yours", id)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
