package redislayer

import "hash/crc32"

// shardIndex maps a name to one of n shards exactly as channels_redis's _consistent_hash does:
// CRC-32 (IEEE) of the UTF-8 bytes, masked to 0..4095, divided by 4096/n in floating point.
func shardIndex(name string, n int) int {
	if n <= 1 {
		return 0
	}
	v := crc32.ChecksumIEEE([]byte(name)) & 0xFFF
	return int(float64(v) / (4096.0 / float64(n)))
}
