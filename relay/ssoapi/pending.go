package ssoapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-rc/tandem/relay/sso"
	"github.com/tandem-rc/tandem/relay/store"
)

// pending keeps OIDC sign-ins under way in the database (sso_pending,
// like SAML's), so that any node of a cluster finishes a sign-in another
// started; the bound (maxFlows) is relay-wide.
type pending struct{ st *store.Store }

func (p pending) Put(ctx context.Context, state, data string, expires time.Time) error {
	err := p.st.PutPending(ctx, store.AuthOIDC, state, data, expires, maxFlows)
	if errors.Is(err, store.ErrFull) {
		return fmt.Errorf("%w: %w", sso.ErrFull, err)
	}
	return err
}

func (p pending) Take(ctx context.Context, state string) (string, error) {
	d, err := p.st.TakePending(ctx, store.AuthOIDC, state)
	if errors.Is(err, store.ErrNotFound) {
		return "", sso.ErrState
	}
	return d, err
}
