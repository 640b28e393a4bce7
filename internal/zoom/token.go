package zoom

import (
	"time"

	"github.com/zoomtoken/tokenserver/internal/secret"
)

// TokenType is the kind of user token Zoom mints.
type TokenType string

// The token types of GET /v2/users/{userId}/token.
const (
	TokenZAK      TokenType = "zak"
	TokenOnBehalf TokenType = "onbehalf"
)

// DefaultTokenLifetime is how long Zoom's ZAK and OBF tokens live when no ttl is asked for.
const DefaultTokenLifetime = 7200 * time.Second

// Token is a minted ZAK or OBF token. Value never prints.
type Token struct {
	Type      TokenType
	UserID    UserID
	MeetingID MeetingID
	Value     secret.Value
	ExpiresIn time.Duration
	ExpiresAt time.Time
}

// MintRequest asks for one token. Its ids were checked when they were
// made; the client does not check them again.
type MintRequest struct {
	Type      TokenType
	UserID    UserID
	MeetingID MeetingID // required for TokenOnBehalf
	TTL       int       // seconds, 1 to MaxTTLSeconds; 0: Zoom's default
}
