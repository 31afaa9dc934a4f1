package redislayer

import "github.com/redis/go-redis/v9"

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

// crash stops l as a killed process would: loops end, connections close, no goodbye
// heartbeat.
func (l *Layer) crash() {
	l.closed.Store(true)
	l.cancel()
	l.mu.Lock()
	for _, ib := range l.inboxes {
		if ib.owned {
			_ = ib.client.Close()
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
	for _, sh := range l.shards {
		_ = sh.client.Close()
	}
}
