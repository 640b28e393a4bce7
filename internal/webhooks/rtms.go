package webhooks

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// The RTMS (Realtime Media Streams) events, in their meeting, webinar and
// session (Video SDK) forms (docs/ZOOM.md, "RTMS").
const (
	EventRTMSStarted     = "rtms_started"
	EventRTMSStopped     = "rtms_stopped"
	EventRTMSInterrupted = "rtms_interrupted"

	maxRTMSID   = 128  // longest stream id, meeting uuid or session id kept
	maxRTMSURLs = 2048 // longest server_urls kept
)

// RTMS is what an RTMS event says of its stream. Problem is why the event
// cannot be acted on ("" when it can): a missing or malformed field.
type RTMS struct {
	Kind        string // EventRTMSStarted, EventRTMSStopped or EventRTMSInterrupted
	Product     string // "meeting", "webinar" or "session"
	StreamID    string
	MeetingUUID string // meetings and webinars
	SessionID   string // sessions (Video SDK)
	MeetingID   string // the meeting or webinar number, when Zoom sends it
	ServerURLs  string // the signaling websocket URL(s), as Zoom sends them
	StopReason  string
	Problem     string
	// Relayed: another instance of the cluster admitted the event (set by
	// the instance it was relayed to, never read from a payload).
	Relayed bool `json:"-"`
}

// rtmsFields are the fields of an RTMS payload, read from payload and from
// payload.object (Zoom's samples show both).
type rtmsFields struct {
	StreamID    json.RawMessage `json:"rtms_stream_id"`
	MeetingUUID json.RawMessage `json:"meeting_uuid"`
	SessionID   json.RawMessage `json:"session_id"`
	MeetingID   json.RawMessage `json:"meeting_id"`
	WebinarID   json.RawMessage `json:"webinar_id"`
	ServerURLs  json.RawMessage `json:"server_urls"`
	StopReason  json.RawMessage `json:"stop_reason"`
	Object      *rtmsFields     `json:"object"`
}

// rtmsEvent splits "meeting.rtms_started" into its product and kind; ok is
// false for any other event.
func rtmsEvent(name string) (product, kind string, ok bool) {
	product, kind, found := strings.Cut(name, ".")
	if !found {
		return "", "", false
	}
	switch product {
	case "meeting", "webinar", "session":
	default:
		return "", "", false
	}
	switch kind {
	case EventRTMSStarted, EventRTMSStopped, EventRTMSInterrupted:
		return product, kind, true
	}
	return "", "", false
}

// IsRTMS reports whether name is one of the RTMS events.
func IsRTMS(name string) bool {
	_, _, ok := rtmsEvent(name)
	return ok
}

// parseRTMS reads the payload of an RTMS event.
func parseRTMS(product, kind string, payload json.RawMessage) *RTMS {
	r := &RTMS{Kind: kind, Product: product}
	var f rtmsFields
	if len(payload) > 0 && !bytes.Equal(bytes.TrimSpace(payload), []byte("null")) {
		_ = json.Unmarshal(payload, &f) // Parse has checked it is an object
	}
	pick := func(get func(*rtmsFields) json.RawMessage, most int) string {
		if f.Object != nil {
			if s := text(get(f.Object), most); s != "" {
				return s
			}
		}
		return text(get(&f), most)
	}
	r.StreamID = pick(func(x *rtmsFields) json.RawMessage { return x.StreamID }, maxRTMSID)
	r.MeetingUUID = pick(func(x *rtmsFields) json.RawMessage { return x.MeetingUUID }, maxRTMSID)
	r.SessionID = pick(func(x *rtmsFields) json.RawMessage { return x.SessionID }, maxRTMSID)
	r.MeetingID = meetingNumber(json.RawMessage(strconvQuote(pick(func(x *rtmsFields) json.RawMessage { return x.MeetingID }, maxMeetingNumberInEvents))))
	if r.MeetingID == "" {
		r.MeetingID = meetingNumber(json.RawMessage(strconvQuote(pick(func(x *rtmsFields) json.RawMessage { return x.WebinarID }, maxMeetingNumberInEvents))))
	}
	r.ServerURLs = pick(func(x *rtmsFields) json.RawMessage { return x.ServerURLs }, maxRTMSURLs)
	r.StopReason = pick(func(x *rtmsFields) json.RawMessage { return x.StopReason }, 64)
	r.Problem = r.problem()
	return r
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// problem names what makes the event unusable, "" when nothing does.
func (r *RTMS) problem() string {
	switch {
	case r.StreamID == "":
		return "payload.rtms_stream_id is missing"
	case !plainID(r.StreamID):
		return "payload.rtms_stream_id has characters a stream id does not have"
	case r.Product == "session" && r.SessionID == "":
		return "payload.session_id is missing"
	case r.Product == "session" && !plainID(r.SessionID):
		return "payload.session_id has characters a session id does not have"
	case r.Product != "session" && r.MeetingUUID == "":
		return "payload.meeting_uuid is missing"
	case r.Product != "session" && !plainID(r.MeetingUUID):
		return "payload.meeting_uuid has characters a meeting uuid does not have"
	case r.Kind != EventRTMSStopped && !signalingURLs(r.ServerURLs):
		return "payload.server_urls is missing or is not a ws:// or wss:// URL"
	}
	return ""
}

// plainID: the characters of Zoom's ids (meeting uuids are base64, with
// "/", "+" and "="; stream ids are hex or base64).
func plainID(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("+/=_-.:", c):
		default:
			return false
		}
	}
	return s != ""
}

// signalingURLs: one or more ws:// or wss:// URLs, comma-separated, without
// spaces or quotes.
func signalingURLs(s string) bool {
	if s == "" {
		return false
	}
	for _, u := range strings.Split(s, ",") {
		if !strings.HasPrefix(u, "wss://") && !strings.HasPrefix(u, "ws://") {
			return false
		}
		if strings.ContainsAny(u, " \"'<>\\") {
			return false
		}
	}
	return true
}
