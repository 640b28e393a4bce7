package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/zoomtoken/tokenserver/internal/apperr"
)

// serveHTTP is what Handler serves: engine.io, behind two guards of its own.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Method == http.MethodPost {
		if !s.capBody(w, r) {
			return
		}
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w = newHijackWriter(w, r.URL.Query().Get("sid") == "")
	}
	s.eio.ServeHTTP(w, r)
}

// capBody reads a long-polling POST whole, up to MaxPayload. engine.io
// checks only Content-Length and then reads whatever comes, so a chunked
// body of any size was read into memory. An oversized body is answered 413
// and ends its session; a smaller one is handed on as it came.
func (s *Server) capBody(w http.ResponseWriter, r *http.Request) bool {
	limit := s.cfg.MaxPayload
	if r.ContentLength > limit {
		s.tooLarge(w, r)
		return false
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "", http.StatusBadRequest)
		return false
	}
	if int64(len(buf)) > limit {
		s.tooLarge(w, r)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.ContentLength = int64(len(buf))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	return true
}

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("A Socket.IO message is limited to %d bytes; this session is closed.", s.cfg.MaxPayload)
	if sid := r.URL.Query().Get("sid"); sid != "" {
		s.mu.Lock()
		c := s.conns[sid]
		s.mu.Unlock()
		if c != nil {
			s.kick(c, apperr.CodePayloadTooLarge, msg)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"success": false, "error": msg, "code": apperr.CodePayloadTooLarge})
}
