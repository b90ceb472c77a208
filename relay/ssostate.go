package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-rc/tandem/relay/sso"
	"github.com/tandem-rc/tandem/relay/store"
)

// ssoPending keeps OIDC sign-ins under way in the database (sso_pending,
// like SAML's), so that any node of a cluster finishes a sign-in another
// started; the bound (ssoMaxFlows) is relay-wide.
type ssoPending struct{ st *store.Store }

func (p ssoPending) Put(ctx context.Context, state, data string, expires time.Time) error {
	err := p.st.PutPending(ctx, store.AuthOIDC, state, data, expires, ssoMaxFlows)
	if errors.Is(err, store.ErrFull) {
		return fmt.Errorf("%w: %w", sso.ErrFull, err)
	}
	return err
}

func (p ssoPending) Take(ctx context.Context, state string) (string, error) {
	d, err := p.st.TakePending(ctx, store.AuthOIDC, state)
	if errors.Is(err, store.ErrNotFound) {
		return "", sso.ErrState
	}
	return d, err
}
