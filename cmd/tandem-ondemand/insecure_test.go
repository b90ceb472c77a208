package main

import (
	"context"
	"errors"
	"testing"

	"github.com/tandem-rc/tandem/internal/relayurl"
)

// The session key is not sent to a plain-http relay off this machine,
// whichever way the URL came (flag, link, file name), without the flag.
func TestOnDemandRefusesPlainHTTPRelay(t *testing.T) {
	b := &backend{}
	if _, err := b.Join(context.Background(), "http://relay.example.invalid", "123456789"); !errors.Is(err, relayurl.ErrInsecure) {
		t.Fatalf("Join: %v, want ErrInsecure", err)
	}
	rc := root()
	if err := rc.ParseFlags([]string{"--" + relayurl.FlagName}); err != nil {
		t.Fatal(err)
	}
	if f := rc.Flags().Lookup(relayurl.FlagName); f == nil || f.Value.String() != "true" {
		t.Fatalf("no --%s flag", relayurl.FlagName)
	}
}
