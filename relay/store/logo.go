package store

import (
	"context"
	"encoding/base64"
	"time"
)

// Logo is one of an account's Portal logos (spec 6.3), already checked
// and cleaned by relay/logo.
type Logo struct {
	AccountID   string
	Shape       string // rect, square
	ContentType string
	Data        []byte // nil from Logos (metadata only)
	UpdatedAt   time.Time
}

// SetLogo stores (or replaces) a logo.
func (s *Store) SetLogo(ctx context.Context, l Logo) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO account_logos (account_id, shape, content_type, data, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, shape) DO UPDATE SET content_type = excluded.content_type, data = excluded.data, updated_at = excluded.updated_at`,
		l.AccountID, l.Shape, l.ContentType, base64.StdEncoding.EncodeToString(l.Data), l.UpdatedAt.UnixMilli())
	return wrap("set logo", err)
}

// Logo reads one logo with its bytes; none is ErrNotFound.
func (s *Store) Logo(ctx context.Context, accountID, shape string) (Logo, error) {
	l := Logo{AccountID: accountID, Shape: shape}
	var data string
	var at int64
	err := s.q.QueryRowContext(ctx, `SELECT content_type, data, updated_at FROM account_logos WHERE account_id = $1 AND shape = $2`,
		accountID, shape).Scan(&l.ContentType, &data, &at)
	if err != nil {
		return l, wrap("logo", err)
	}
	if l.Data, err = base64.StdEncoding.DecodeString(data); err != nil {
		return l, wrap("logo", err)
	}
	l.UpdatedAt = time.UnixMilli(at)
	return l, nil
}

// Logos lists an account's logos without their bytes.
func (s *Store) Logos(ctx context.Context, accountID string) ([]Logo, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT shape, content_type, updated_at FROM account_logos WHERE account_id = $1 ORDER BY shape`, accountID)
	if err != nil {
		return nil, wrap("logos", err)
	}
	defer rows.Close()
	var out []Logo
	for rows.Next() {
		l := Logo{AccountID: accountID}
		var at int64
		if err := rows.Scan(&l.Shape, &l.ContentType, &at); err != nil {
			return nil, wrap("logos", err)
		}
		l.UpdatedAt = time.UnixMilli(at)
		out = append(out, l)
	}
	return out, wrap("logos", rows.Err())
}

// DeleteLogo removes a logo; none is ErrNotFound.
func (s *Store) DeleteLogo(ctx context.Context, accountID, shape string) error {
	return s.execOne(ctx, "delete logo", `DELETE FROM account_logos WHERE account_id = $1 AND shape = $2`, accountID, shape)
}
