// Package connections keeps users' own Zoom OAuth grants ("connections").
//
// A connection belongs to one of our callers (its sub) and carries the Zoom
// refresh token of that caller's grant, sealed with AES-256-GCM under a
// Keyring. The sub is bound into each seal as associated data, so a sealed
// token copied onto another user's row does not open. Zoom replaces the
// refresh token on every refresh and the old one stops working, so every
// change to a stored connection bumps its Version, and SwapRefresh writes
// a new token only when the version the caller read is still current: two
// refreshers (goroutines or processes sharing a database) can never both
// store a token, and the loser learns it with ErrConflict. A refresher
// first Claims the token (a lease, itself a compare-and-swap on the
// version), so that no one else even sends it to Zoom until the lease is
// swapped, released or runs out: a refresh token is never spent twice.
//
// Stores: Open("memory") keeps everything in the process; Open("sqlite:PATH")
// keeps it in an SQLite file, which several processes may share;
// Open("postgres://…") keeps it in PostgreSQL, which the instances of a
// cluster share (the row is locked while a write compares its version).
// A database that cannot be used now answers ErrUnavailable.
package store
