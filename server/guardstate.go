package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/zoomtoken/tokenserver/internal/gate"
	"github.com/zoomtoken/tokenserver/internal/store"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
	"github.com/zoomtoken/tokenserver/services"
)

// The guard state: callback URLs' revocations and spent single uses, and
// the webhook events seen. It must outlive a restart, or a revoked URL
// mints again and a replayed webhook is taken again. Where it lives:
// Redis with REDIS_URL (every instance agrees); else the database of
// DATABASE_URL (SQLite, PostgreSQL: store.Marks, beside users'
// connections); else (DATABASE_URL=memory) this process's memory, with a
// warning at start that a restart forgets it.

// guardConfigured reports whether callback URLs or webhooks are on: the
// parts that keep guard state.
func guardConfigured(cfg Config) bool {
	return cfg.Mode == "sandbox" || !cfg.CallbackURLKey.Empty() || len(cfg.WebhookSecrets) > 0
}

// connectionsConfigured reports whether users' OAuth connections are on
// (newConnections builds them).
func connectionsConfigured(cfg Config) bool {
	return cfg.Mode == "sandbox" || cfg.OAuthClientID != ""
}

// useDatabase makes db's marks the guard state when there is no Redis
// and DATABASE_URL names a database (not memory). With memory it warns.
func (s *sharedState) useDatabase(cfg Config, db store.Store, log *slog.Logger) {
	if s.redis != nil || !guardConfigured(cfg) {
		return
	}
	if m, ok := db.(store.Marks); ok && strings.TrimSpace(cfg.DatabaseURL) != "memory" {
		s.marks, s.marksLog = m, log
		log.Info("callback URLs' revocations and single uses, and webhook events seen, are kept in the database",
			"database", strings.SplitN(cfg.DatabaseURL, ":", 2)[0])
		return
	}
	log.Warn("callback URLs' revocations and single uses, and webhook events seen, are kept in this process's memory (DATABASE_URL=memory, no REDIS_URL): a restart forgets them, so a revoked or spent callback URL works again and a replayed webhook is taken again; set DATABASE_URL=sqlite:PATH or postgres://… (or REDIS_URL) to keep them")
}

// dbDedupe is the local Dedupe, then a mark per event key (a hash) in the
// database, kept webhooks.DefaultHorizon past the later of now and the
// event's stamp: an event taken before a restart is a duplicate after it.
// A database that fails leaves the local Dedupe to decide (as Redis down
// does), and is logged.
type dbDedupe struct {
	local *webhooks.Dedupe
	m     store.Marks
	log   *slog.Logger
	now   func() time.Time
}

// dbDedupeTimeout bounds the database's answer about one event.
const dbDedupeTimeout = 5 * time.Second

func (d dbDedupe) Admit(key string, stamp time.Time) webhooks.Verdict {
	if v := d.local.Admit(key, stamp); v != webhooks.Fresh {
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), dbDedupeTimeout)
	defer cancel()
	added, err := d.m.AddMark(ctx, store.MarkSeen, key, later(d.now(), stamp).Add(webhooks.DefaultHorizon))
	if err != nil {
		d.log.Warn("webhooks: the database could not say whether an event was seen before; this process's memory decides", "err", err)
		return webhooks.Fresh
	}
	if !added {
		return webhooks.Duplicate
	}
	return webhooks.Fresh
}

func (d dbDedupe) Forget(key string) {
	d.local.Forget(key)
	ctx, cancel := context.WithTimeout(context.Background(), dbDedupeTimeout)
	defer cancel()
	if err := d.m.DropMark(ctx, store.MarkSeen, key); err != nil {
		d.log.Warn("webhooks: the database could not forget an event", "err", err)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// callbackMakers is callbacks.Makers: a URL made with an API key answers
// while that key is one of API_KEYS (by its fingerprint, as
// services.Identity names it); one made by a JWT caller while JWTs are
// accepted at all (AUTH_JWT_SECRET, AUTH_JWKS_URL, or sandbox mode's
// generated secret). A JWT's role cannot be asked again once it has
// expired, so for those the rule is re-applied to the role the URL
// recorded.
type callbackMakers struct {
	keys map[string]bool
	jwt  bool
}

func newCallbackMakers(cfg Config) callbackMakers {
	m := callbackMakers{keys: map[string]bool{},
		jwt: !cfg.JWTSecret.Empty() || cfg.JWKSURL != "" || (cfg.Mode == "sandbox" && !cfg.AuthConfigured())}
	for _, k := range cfg.APIKeys {
		m.keys["api-key:"+gate.KeyFingerprint(k.Reveal())] = true
	}
	return m
}

func (m callbackMakers) Accepts(maker services.Identity) bool {
	if maker.Method == "api_key" {
		return m.keys[maker.Subject]
	}
	return m.jwt
}
