package wire

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/zoomtoken/tokenserver/services/rtms"

	"github.com/zoomtoken/tokenserver/internal/jsonbody"
)

// The RTMS events (docs/API.md, "RTMS"): a worker sends ready and release;
// the server sends assign (with an ack), reconnect and stopped.
const (
	EventRTMSReady     = "rtms:ready"
	EventRTMSRelease   = "rtms:release"
	EventRTMSAssign    = "rtms:assign"
	EventRTMSReconnect = "rtms:reconnect"
	EventRTMSStopped   = "rtms:stopped"
	RTMSEventPrefix    = "rtms:"
)

const maxRTMSID = 128

type rtmsRequest struct {
	Capacity    json.RawMessage `json:"capacity"`
	Streams     json.RawMessage `json:"streams"`
	StreamID    json.RawMessage `json:"streamId"`
	MeetingUUID json.RawMessage `json:"meetingUuid"`
	SessionID   json.RawMessage `json:"sessionId"`
}

// DecodeRTMSReady parses {capacity, streams?}: a whole number from 1 to
// 1000, and the stream ids the worker still holds from a socket it lost.
func DecodeRTMSReady(body []byte) (int, []string, error) {
	var r rtmsRequest
	if err := jsonbody.Decode("rtms ready", body, &r); err != nil {
		return 0, nil, err
	}
	var f jsonbody.Fields
	const reason = "must be a whole number from 1 to 1000 (the streams this worker takes at once)"
	n := int64(0)
	if f.Required("capacity", r.Capacity, "is required: "+reason) {
		if v, ok := f.Int("capacity", r.Capacity, reason); ok {
			if v < rtms.RTMSMinCapacity || v > rtms.RTMSMaxCapacity {
				f.Add("capacity", reason)
			}
			n = v
		}
	}
	var resume []string
	if jsonbody.Present(r.Streams) {
		var raws []json.RawMessage
		if json.Unmarshal(r.Streams, &raws) != nil || len(raws) > rtms.RTMSMaxCapacity {
			f.Add("streams", "must be a list of at most 1000 stream ids")
		}
		for i, raw := range raws {
			if len(raws) <= rtms.RTMSMaxCapacity {
				if id := rtmsID(&f, fmt.Sprintf("streams[%d]", i), raw, true); id != "" {
					resume = append(resume, id)
				}
			}
		}
	}
	return int(n), resume, f.Err("rtms ready")
}

// DecodeRTMSRelease parses {streamId}.
func DecodeRTMSRelease(body []byte) (string, error) {
	var r rtmsRequest
	if err := jsonbody.Decode("rtms release", body, &r); err != nil {
		return "", err
	}
	var f jsonbody.Fields
	id := rtmsID(&f, "streamId", r.StreamID, true)
	return id, f.Err("rtms release")
}

// RTMSSignatureInput is POST /api/rtms/signature's body.
type RTMSSignatureInput struct {
	StreamID    string
	MeetingUUID string
	SessionID   string
}

// DecodeRTMSSignature parses {streamId, meetingUuid | sessionId}.
func DecodeRTMSSignature(body []byte) (RTMSSignatureInput, error) {
	var r rtmsRequest
	if err := jsonbody.Decode("rtms signature", body, &r); err != nil {
		return RTMSSignatureInput{}, err
	}
	var f jsonbody.Fields
	in := RTMSSignatureInput{StreamID: rtmsID(&f, "streamId", r.StreamID, true),
		MeetingUUID: rtmsID(&f, "meetingUuid", r.MeetingUUID, false), SessionID: rtmsID(&f, "sessionId", r.SessionID, false)}
	switch {
	case jsonbody.Present(r.MeetingUUID) && jsonbody.Present(r.SessionID):
		f.Add("sessionId", "send meetingUuid or sessionId, not both")
	case !jsonbody.Present(r.MeetingUUID) && !jsonbody.Present(r.SessionID):
		f.Add("meetingUuid", "is required (or sessionId, for a Video SDK session)")
	}
	return in, f.Err("rtms signature")
}

// rtmsID reads one of Zoom's stream, meeting or session ids: a string of at
// most 128 letters, digits and "+/=_-.:".
func rtmsID(f *jsonbody.Fields, name string, raw json.RawMessage, required bool) string {
	if !jsonbody.Present(raw) {
		if required {
			f.Add(name, "is required")
		}
		return ""
	}
	s, ok := f.String(name, raw, "must be a string")
	if !ok {
		return ""
	}
	if s == "" || len(s) > maxRTMSID || strings.IndexFunc(s, oddIDRune) >= 0 {
		f.Add(name, "must be 1 to 128 letters, digits and + / = _ - . : (as Zoom sends it)")
		return ""
	}
	return s
}

func oddIDRune(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return false
	}
	return !strings.ContainsRune("+/=_-.:", c)
}
