package zoom

import (
	"context"
	"testing"

	"github.com/zoomtoken/tokenserver/internal/sandbox"
	"github.com/zoomtoken/tokenserver/internal/secret"
)

// A caller that found the cache empty, then was delayed until an earlier
// fetch had stored a token, must not make Zoom issue another: the shared
// fetch looks at the cache again first.
func TestDelayedMissReusesTheStoredToken(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	acct, id, sec := sb.Credentials()
	c, err := New(Config{OAuthURL: sb.OAuthURL(), APIURL: sb.APIURL(), AccountID: acct, ClientID: id, ClientSecret: secret.New(sec)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	first, err := c.s2s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The delayed caller: it saw a miss before the first fetch stored.
	late, err := c.s2s.fetchShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if late.value != first {
		t.Fatal("the delayed caller got another token")
	}
	if n := sb.Stats().TokensIssued; n != 1 {
		t.Fatalf("%d tokens issued, want 1", n)
	}
}
