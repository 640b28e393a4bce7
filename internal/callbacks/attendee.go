package callbacks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/zoomtoken/tokenserver/services/awaits"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/jsonbody"
	"github.com/zoomtoken/tokenserver/internal/secret"
	"github.com/zoomtoken/tokenserver/internal/zoom"
)

// The keys of Attendee's bot_metadata this server reads (docs/BOTS.md, Bot
// platforms). Attendee passes the metadata given when the bot was created.
const (
	MetaUser           = "zoom_user_id"         // whose token (a Zoom user id or email); this or MetaUsers is required
	MetaUsers          = "zoom_user_ids"        // OBF candidates, in order of preference: a comma-separated string, or a JSON list of strings
	MetaTokenType      = "zoom_token_type"      // "onbehalf" (default) or "zak"
	MetaRecordingToken = "zoom_recording_token" // "true": also the meeting's local-recording join token, minted as zoom_user_id (the host)
)

// AttendeeSignatureHeader carries Attendee's signature.
const AttendeeSignatureHeader = "X-Webhook-Signature"

// MinAttendeeSecretLen is the fewest bytes ATTENDEE_WEBHOOK_SECRET may
// decode to (Attendee's are 32 random bytes).
const MinAttendeeSecretLen = 16

// ParseAttendeeSecret reads the secret as Attendee shows it (base64 of the
// key): the HMAC key is the decoded bytes.
func ParseAttendeeSecret(s string) (secret.Value, error) {
	s = strings.TrimSpace(s)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return secret.Value{}, errors.New("must be the secret exactly as Attendee shows it (base64)")
	}
	if len(key) < MinAttendeeSecretLen {
		return secret.Value{}, fmt.Errorf("decodes to %d bytes; Attendee's secrets are 32", len(key))
	}
	return secret.New(string(key)), nil
}

// AttendeeConfig configures Attendee.
type AttendeeConfig struct {
	Key    secret.Value // the decoded secret (ParseAttendeeSecret)
	Tokens Tokens
	Join   JoinTokens // nil: app_privilege_token is always null
	// Candidates chooses among the candidates of zoom_user_ids; nil:
	// presence is never known, so the first listed is minted for.
	Candidates Candidates
	Logger     *slog.Logger
}

// Attendee answers Attendee's zoom_tokens callbacks.
type Attendee struct {
	cfg AttendeeConfig
}

// NewAttendee returns the Attendee callback service.
func NewAttendee(cfg AttendeeConfig) (*Attendee, error) {
	if len(cfg.Key.Reveal()) < MinAttendeeSecretLen || cfg.Tokens == nil {
		return nil, errors.New("callbacks: Attendee needs its secret and a minter")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Attendee{cfg: cfg}, nil
}

// ZoomTokens is the answer Attendee expects; a nil field is JSON null.
// Attendee gives zak_token to the SDK as the ZAK, onbehalf_token as the OBF
// (it also accepts a comma-separated list, one per join attempt), and
// app_privilege_token as the local-recording token (its own Zoom OAuth
// integration puts the jointoken/local_recording token there; its web bot
// reads join_token or app_privilege_token as the recording token).
type ZoomTokens struct {
	ZAK               *secret.Value
	JoinToken         *secret.Value
	AppPrivilegeToken *secret.Value
	OnBehalfToken     *secret.Value
}

func badSignature(reason string) error {
	return &apperr.Error{Kind: apperr.ErrInvalidSignature, Op: "check Attendee callback", Err: ErrForged,
		Message: "The Attendee callback's signature is not valid: " + reason + ".",
		Hint:    "ATTENDEE_WEBHOOK_SECRET must be the project's webhook secret exactly as Attendee's Settings → Webhooks page shows it."}
}

// Verify checks X-Webhook-Signature against body: base64 of HMAC-SHA256,
// keyed with the secret's bytes, over the body written again canonically
// (Canonical), compared in constant time. It answers the parsed payload.
func (a *Attendee) Verify(signature string, body []byte) (map[string]any, error) {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return nil, badSignature("the " + AttendeeSignatureHeader + " header is missing")
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return nil, badSignature("the " + AttendeeSignatureHeader + " header is not a base64 HMAC-SHA256")
	}
	canon, v, err := Canonical(body)
	if err != nil {
		return nil, apperr.InvalidInput("check Attendee callback", apperr.FieldError{Field: "body", Reason: "is " + err.Error()})
	}
	m := hmac.New(sha256.New, []byte(a.cfg.Key.Reveal()))
	m.Write(canon)
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, badSignature("it does not match the body")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, apperr.InvalidInput("check Attendee callback", apperr.FieldError{Field: "body", Reason: "must be a JSON object"})
	}
	return obj, nil
}

// AttendeeRequest is what a verified callback asks for.
type AttendeeRequest struct {
	BotID     string // Attendee's bot id, for logs
	Meeting   zoom.MeetingID
	User      zoom.UserID
	Users     []zoom.UserID // zoom_user_ids: OBF candidates, in place of User
	ZAK       bool          // zoom_token_type "zak"; else an OBF
	Recording bool
}

var digitRun = regexp.MustCompile(`[0-9]+`)

// MeetingFromURL reads the meeting number from a Zoom join URL as Attendee
// does: the first run of digits in its path (/j/85746065432, /wc/join/…,
// /s/…); it must be 9 to 11 digits.
func MeetingFromURL(raw string) (zoom.MeetingID, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return zoom.MeetingID{}, "must be a Zoom join URL such as https://zoom.us/j/85746065432"
	}
	run := digitRun.FindString(u.Path)
	if run == "" {
		return zoom.MeetingID{}, "holds no meeting number in its path (a personal link name cannot be minted for)"
	}
	m, reason := zoom.MeetingIDFromString(run)
	if reason != "" {
		return zoom.MeetingID{}, "holds a meeting number that " + reason
	}
	return m, ""
}

// Parse reads a verified payload: callback_type zoom_tokens, meeting_url,
// and bot_metadata's keys (MetaUser, MetaTokenType, MetaRecordingToken).
func (a *Attendee) Parse(p map[string]any) (AttendeeRequest, error) {
	const op = "read Attendee callback"
	var f jsonbody.Fields
	var r AttendeeRequest
	if id, ok := p["bot_id"].(string); ok && len(id) <= 64 && safeLabel(id) {
		r.BotID = id
	}
	if t, _ := p["callback_type"].(string); t != "zoom_tokens" {
		f.Add("callback_type", "must be zoom_tokens (this route answers only Attendee's zoom_tokens callback)")
	}
	if mu, ok := p["meeting_url"].(string); !ok {
		f.Add("meeting_url", "is required: the bot's Zoom join URL")
	} else if m, reason := MeetingFromURL(mu); reason != "" {
		f.Add("meeting_url", reason)
	} else {
		r.Meeting = m
	}
	meta, _ := p["bot_metadata"].(map[string]any)
	r.User, r.Users = metaUsers(&f, meta)
	switch t := meta[MetaTokenType]; t {
	case nil, "onbehalf", "obf":
	case "zak":
		r.ZAK = true
	default:
		f.Add("bot_metadata."+MetaTokenType, "must be onbehalf or zak")
	}
	switch rec := meta[MetaRecordingToken]; rec {
	case nil, false, "false", "":
	case true, "true":
		r.Recording = true
	default:
		f.Add("bot_metadata."+MetaRecordingToken, "must be \"true\" or \"false\"")
	}
	if len(r.Users) > 0 && r.ZAK {
		f.Add("bot_metadata."+MetaUsers, "names OBF candidates: it does not go with "+MetaTokenType+" zak (a ZAK is one user's: use "+MetaUser+")")
	}
	if len(r.Users) > 0 && r.Recording {
		f.Add("bot_metadata."+MetaRecordingToken, "is minted as the meeting's host, named by "+MetaUser+": it does not go with "+MetaUsers)
	}
	return r, f.Err(op)
}

// metaUsers reads whose token the bot gets: zoom_user_id, one user; or
// zoom_user_ids, 1 to awaits.MaxCandidates candidates (a comma-separated
// string, as metadata that must hold strings can carry it, or a JSON list
// of strings), no two the same user. One of the two, not both.
func metaUsers(f *jsonbody.Fields, meta map[string]any) (zoom.UserID, []zoom.UserID) {
	one, list := "bot_metadata."+MetaUser, "bot_metadata."+MetaUsers
	raw, listed := meta[MetaUsers]
	_, single := meta[MetaUser]
	switch {
	case listed && single:
		f.Add(list, "goes in place of "+MetaUser+": name one user or the candidates, not both")
		return zoom.UserID{}, nil
	case listed:
		return zoom.UserID{}, metaCandidates(f, list, raw)
	}
	s, ok := meta[MetaUser].(string)
	if !ok {
		f.Add(one, "is required (or "+MetaUsers+"): create the bot with metadata {\""+MetaUser+"\": \"<the Zoom user id or email whose token the bot uses>\"}")
		return zoom.UserID{}, nil
	}
	u, reason := zoom.ParseUserID(s)
	if reason != "" {
		f.Add(one, reason)
	}
	return u, nil
}

// metaCandidates reads zoom_user_ids' list; white space around each
// comma-separated id is ignored.
func metaCandidates(f *jsonbody.Fields, name string, raw any) []zoom.UserID {
	var items []string
	switch v := raw.(type) {
	case string:
		items = strings.Split(v, ",")
	case []any:
		for _, it := range v {
			s, ok := it.(string)
			if !ok {
				f.Add(name, "must be a list of strings (Zoom user ids or emails)")
				return nil
			}
			items = append(items, s)
		}
	default:
		f.Add(name, "must be a comma-separated string (or a list) of Zoom user ids or emails")
		return nil
	}
	if len(items) == 0 || len(items) > awaits.MaxCandidates {
		f.Add(name, fmt.Sprintf("must list 1 to %d candidates (it lists %d)", awaits.MaxCandidates, len(items)))
		return nil
	}
	out := make([]zoom.UserID, 0, len(items))
	for i, it := range items {
		u, reason := zoom.ParseUserID(strings.TrimSpace(it))
		switch {
		case reason != "":
			f.Add(fmt.Sprintf("%s[%d]", name, i), reason)
		case slices.ContainsFunc(out, u.Same):
			f.Add(fmt.Sprintf("%s[%d]", name, i), "names a user listed before it: list each candidate once")
		default:
			out = append(out, u)
		}
	}
	return out
}

func safeLabel(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ZoomTokens answers a verified, parsed callback: the ZAK or the OBF of the
// user, or the OBF of a present candidate (the SDK takes one or the other,
// never both), and, when asked, the
// meeting's local-recording token as app_privilege_token. The main token
// must be minted (else the error, with its reason, which Attendee logs); a
// recording token that cannot be had is null, and logged.
func (a *Attendee) ZoomTokens(ctx context.Context, r AttendeeRequest) (ZoomTokens, error) {
	var out ZoomTokens
	mr := zoom.MintRequest{Type: zoom.TokenOnBehalf, UserID: r.User, MeetingID: r.Meeting}
	if r.ZAK {
		mr.Type = zoom.TokenZAK
	}
	if len(r.Users) > 0 {
		u, err := a.candidate(ctx, r)
		if err != nil {
			a.cfg.Logger.Warn("attendee callback: no candidate chosen", "bot_id", r.BotID, "code", apperr.Code(err))
			return ZoomTokens{}, err
		}
		mr.UserID = u
	}
	m, err := a.cfg.Tokens.BotToken(ctx, mr)
	if err != nil {
		a.cfg.Logger.Warn("attendee callback: no token minted", "bot_id", r.BotID, "type", string(mr.Type), "code", apperr.Code(err))
		return ZoomTokens{}, err
	}
	v := m.Value
	if r.ZAK {
		out.ZAK = &v
	} else {
		out.OnBehalfToken = &v
	}
	if r.Recording {
		if a.cfg.Join == nil {
			a.cfg.Logger.Warn("attendee callback: a recording token was asked for, but this server cannot mint join tokens yet", "bot_id", r.BotID)
		} else if jt, err := a.cfg.Join.JoinToken(ctx, r.User, r.Meeting); err != nil {
			a.cfg.Logger.Warn("attendee callback: no recording token", "bot_id", r.BotID, "code", apperr.Code(err), "err", err)
		} else {
			out.AppPrivilegeToken = &jt
		}
	}
	a.cfg.Logger.Info("attendee callback answered", "bot_id", r.BotID, "type", string(mr.Type), "via", m.Via,
		"candidates", len(r.Users), "recording_token", out.AppPrivilegeToken != nil)
	return out, nil
}

// candidate is whom an OBF for zoom_user_ids is minted for: the candidate
// Candidates chooses (the first present; where the meeting's presence is
// unknown, the first listed), just before the mint.
func (a *Attendee) candidate(ctx context.Context, r AttendeeRequest) (zoom.UserID, error) {
	if a.cfg.Candidates == nil {
		return r.Users[0], nil
	}
	ch, err := a.cfg.Candidates.ChooseCandidate(ctx, r.Meeting, r.Users)
	return ch.User, err
}
