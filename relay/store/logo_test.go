package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandem-rc/tandem/relay/store/storetest"
)

// TestLogos: set, replace, list without bytes, read back byte for byte
// (binary data through the TEXT column), delete, and gone with the account.
func TestLogos(t *testing.T) { storetest.Run(t, testLogos) }

func testLogos(t *testing.T, be storetest.Backend) {
	ctx := context.Background()
	s, err := Open(ctx, be.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(time.Now().UnixMilli())
	acct, err := s.CreateAccount(ctx, Account{Name: "Acme", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Logo(ctx, acct.ID, "rect"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no logo yet: %v", err)
	}
	bin := []byte{0x89, 'P', 'N', 'G', 0, 0xff, '\'', '"', 0}
	for _, l := range []Logo{{AccountID: acct.ID, Shape: "rect", ContentType: "image/svg+xml", Data: []byte("<svg/>"), UpdatedAt: now},
		{AccountID: acct.ID, Shape: "rect", ContentType: "image/png", Data: bin, UpdatedAt: now.Add(time.Second)},
		{AccountID: acct.ID, Shape: "square", ContentType: "image/jpeg", Data: []byte{1}, UpdatedAt: now}} {
		if err := s.SetLogo(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Logo(ctx, acct.ID, "rect")
	if err != nil || got.ContentType != "image/png" || !bytes.Equal(got.Data, bin) || !got.UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("rect: %+v %v", got, err)
	}
	ls, err := s.Logos(ctx, acct.ID)
	if err != nil || len(ls) != 2 || ls[0].Shape != "rect" || ls[1].Shape != "square" || ls[0].Data != nil {
		t.Fatalf("logos: %+v %v", ls, err)
	}
	if err := s.SetLogo(ctx, Logo{AccountID: acct.ID, Shape: "circle", ContentType: "image/png", Data: bin, UpdatedAt: now}); err == nil {
		t.Fatal("a third shape was stored")
	}
	if err := s.DeleteLogo(ctx, acct.ID, "square"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLogo(ctx, acct.ID, "square"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}
