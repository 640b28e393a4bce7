package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The oldest Redis the cluster works with: the Socket.IO adapter is
// sharded (SPUBLISH/SSUBSCRIBE), which Redis 7.0 brought.
const (
	minRedisMajor = 7
	minRedisMinor = 0
)

// errRedisTooOld is what a Redis older than 7.0, or one whose version
// cannot be read, is refused with.
var errRedisTooOld = errors.New("redis too old")

// checkRedisVersion accepts a redis_version of 7.0 or later ("7.0.15",
// "7.2.4", "8.0.0"). Errors name REDIS_URL and never quote it.
func checkRedisVersion(v string) error {
	parts := strings.SplitN(v, ".", 3)
	var nums [2]int
	for i := range nums {
		if i >= len(parts) {
			return fmt.Errorf("%w: REDIS_URL: the Redis server answered INFO with redis_version %q, not a version number (MAJOR.MINOR.PATCH); this server needs Redis %d.%d or later",
				errRedisTooOld, clip(v), minRedisMajor, minRedisMinor)
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || n > 1000 {
			return fmt.Errorf("%w: REDIS_URL: the Redis server answered INFO with redis_version %q, not a version number (MAJOR.MINOR.PATCH); this server needs Redis %d.%d or later",
				errRedisTooOld, clip(v), minRedisMajor, minRedisMinor)
		}
		nums[i] = n
	}
	if nums[0] < minRedisMajor || nums[0] == minRedisMajor && nums[1] < minRedisMinor {
		return fmt.Errorf("%w: REDIS_URL: the Redis server is version %s; this server needs Redis %d.%d or later (the Socket.IO adapter uses sharded Pub/Sub, SPUBLISH/SSUBSCRIBE)",
			errRedisTooOld, clip(v), minRedisMajor, minRedisMinor)
	}
	return nil
}

// clip keeps a version string read from the network short in messages.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// redisVersion is redis_version from INFO server ("" when INFO has none).
func redisVersion(info string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "redis_version:"); ok {
			return v
		}
	}
	return ""
}

// verify checks, once Redis answers, that it is recent enough. A Redis
// that answered INFO with an error (an ACL that forbids it) is taken as it
// is, with a warning; a Redis that did not answer is checked again at the
// next probe. A Redis too old is refused with an error wrapping
// errRedisTooOld, logged once per version found.
func (r *Redis) verify(ctx context.Context) error {
	if r.verified {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+IOTimeout)
	defer cancel()
	info, err := r.client.Info(ctx, "server").Result()
	var rerr redis.Error
	switch {
	case errors.As(err, &rerr):
		r.log.Warn("cluster: Redis refused INFO server; its version (7.0 or later needed) is not checked", "err", err)
		r.verified = true
		return nil
	case err != nil:
		return fmt.Errorf("read redis version: %w", err)
	}
	v := redisVersion(info)
	if err := checkRedisVersion(v); err != nil {
		if v != r.refused {
			r.refused = v
			r.log.Error("cluster: Redis is not used; working alone (local push, ZOOM_QPS / CLUSTER_SIZE)", "err", err)
		}
		return err
	}
	r.verified = true
	return nil
}
