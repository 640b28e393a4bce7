package zoom

import (
	"context"
	"time"
)

// SharedQuota keeps, for the instances of a cluster together, what Zoom
// counts per account: the pace of calls (ZOOM_QPS per Zoom account, all
// instances together) and the marks saying a daily quota is spent. The
// client uses one when Config.Quota is set (package cluster offers one on
// Redis); without one it keeps both in this process. An implementation
// that loses its backing store must keep answering (a local stand-in),
// never stall or fail the call: the quota protects Zoom, it is not a
// reason to refuse a mint.
type SharedQuota interface {
	// Reserve books account's next call slot: wait is how long from now
	// until its moment, and the slot is the caller's (ok) when wait is at
	// most within (negative: no bound). Otherwise nothing is booked, and
	// wait says how far off the next free slot is. Slots are booked one
	// after another, so callers that sleep until theirs call at the pace,
	// none lost and none early. The client books a batch item's slot only
	// while it holds the account's batch turn (pace.go), so a schedule
	// shared by instances holds at most one batch slot per instance ahead.
	Reserve(ctx context.Context, account string, within time.Duration) (wait time.Duration, ok bool, err error)
	// DailyUntil is when the daily quota that key names is back; zero: not
	// spent. key is "account:<id>" or "user:<user key>".
	DailyUntil(ctx context.Context, key string) time.Time
	// MarkDaily records that key's daily quota is spent until until.
	MarkDaily(ctx context.Context, key string, until time.Time)
}

// sharedDailyWait is dailyWait's answer from the cluster's marks: another
// instance may have met the daily 429.
func (c *Client) sharedDailyWait(ctx context.Context, acct *account, q quota, user UserID) (wait time.Duration, perUser bool) {
	if c.cfg.Quota == nil {
		return 0, false
	}
	now := c.now()
	if w := c.cfg.Quota.DailyUntil(ctx, dailyKey(q)+"account:"+acct.id).Sub(now); w > 0 {
		return w, false
	}
	if q != quotaUserTokens || user.IsZero() {
		return 0, false
	}
	if w := c.cfg.Quota.DailyUntil(ctx, "user:"+user.Key()).Sub(now); w > 0 {
		return w, true
	}
	return 0, false
}

// shareDaily tells the cluster what markDaily recorded here.
func (c *Client) shareDaily(ctx context.Context, acct *account, q quota, user UserID, until time.Time, perUser bool) {
	if c.cfg.Quota == nil {
		return
	}
	key := dailyKey(q) + "account:" + acct.id
	if perUser && q == quotaUserTokens && !user.IsZero() {
		key = "user:" + user.Key()
	}
	c.cfg.Quota.MarkDaily(ctx, key, until)
}

// dailyKey prefixes the cluster's mark of quota q: the user-token quota keeps
// the unprefixed keys, each other API's daily quota (Zoom counts them apart)
// has its own.
func dailyKey(q quota) string {
	if q == quotaMeetings {
		return "meetings:"
	}
	return ""
}
