package redislayer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// fernetKey is one Fernet key derived from a symmetric_encryption_keys entry the way
// channels_redis derives it: SHA-256 of the key string, whose first half signs (HMAC-SHA256)
// and second half encrypts (AES-128-CBC).
type fernetKey struct {
	sign  []byte
	block cipher.Block
}

// crypter encrypts with the first key and decrypts with any of them (key rotation), as
// Python's MultiFernet does.
type crypter struct {
	keys []fernetKey
	ttl  time.Duration // tokens older than this are refused
	now  func() time.Time
}

const (
	fernetVersion  = 0x80
	fernetHeader   = 1 + 8 + aes.BlockSize // version, timestamp, IV
	fernetMAC      = sha256.Size
	fernetMaxSkew  = 60 * time.Second // a token from the future is refused beyond this, as Fernet does
	fernetMinToken = fernetHeader + aes.BlockSize + fernetMAC
)

var errBadToken = errors.New("redislayer: invalid or expired encrypted message")

func newCrypter(keys []string, ttl time.Duration) (*crypter, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	c := &crypter{ttl: ttl, now: time.Now}
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("symmetric encryption key %d is empty", i)
		}
		sum := sha256.Sum256([]byte(k))
		block, err := aes.NewCipher(sum[16:])
		if err != nil {
			return nil, fmt.Errorf("symmetric encryption key %d: %w", i, err)
		}
		c.keys = append(c.keys, fernetKey{sign: append([]byte(nil), sum[:16]...), block: block})
	}
	return c, nil
}

// encrypt returns the Fernet token (URL-safe base64, padded) of plain.
func (c *crypter) encrypt(plain []byte) []byte {
	k := &c.keys[0]
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	raw := make([]byte, fernetHeader+len(plain)+pad, fernetHeader+len(plain)+pad+fernetMAC)
	raw[0] = fernetVersion
	binary.BigEndian.PutUint64(raw[1:9], uint64(c.now().Unix()))
	iv := raw[9:fernetHeader]
	if _, err := rand.Read(iv); err != nil {
		panic("redislayer: crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	body := raw[fernetHeader:]
	copy(body, plain)
	for i := len(plain); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(body, body)
	mac := hmac.New(sha256.New, k.sign)
	mac.Write(raw)
	raw = mac.Sum(raw)
	out := make([]byte, base64.URLEncoding.EncodedLen(len(raw)))
	base64.URLEncoding.Encode(out, raw)
	return out
}

// decrypt checks and decrypts a token with each key in turn.
func (c *crypter) decrypt(token []byte) ([]byte, error) {
	raw := make([]byte, base64.URLEncoding.DecodedLen(len(token)))
	n, err := base64.URLEncoding.Decode(raw, token)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", errBadToken, err)
	}
	raw = raw[:n]
	if len(raw) < fernetMinToken || raw[0] != fernetVersion || (len(raw)-fernetHeader-fernetMAC)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: malformed token", errBadToken)
	}
	ts := time.Unix(int64(binary.BigEndian.Uint64(raw[1:9])), 0)
	now := c.now()
	if now.Sub(ts) > c.ttl {
		return nil, fmt.Errorf("%w: token is %v old (limit %v)", errBadToken, now.Sub(ts).Truncate(time.Second), c.ttl)
	}
	if ts.Sub(now) > fernetMaxSkew {
		return nil, fmt.Errorf("%w: token timestamp is in the future", errBadToken)
	}
	signed, sig := raw[:len(raw)-fernetMAC], raw[len(raw)-fernetMAC:]
	for i := range c.keys {
		k := &c.keys[i]
		mac := hmac.New(sha256.New, k.sign)
		mac.Write(signed)
		if subtle.ConstantTimeCompare(mac.Sum(nil), sig) != 1 {
			continue
		}
		body := make([]byte, len(signed)-fernetHeader)
		cipher.NewCBCDecrypter(k.block, signed[9:fernetHeader]).CryptBlocks(body, signed[fernetHeader:])
		pad := int(body[len(body)-1])
		if pad == 0 || pad > aes.BlockSize {
			return nil, fmt.Errorf("%w: bad padding", errBadToken)
		}
		for _, b := range body[len(body)-pad:] {
			if int(b) != pad {
				return nil, fmt.Errorf("%w: bad padding", errBadToken)
			}
		}
		return body[:len(body)-pad], nil
	}
	return nil, fmt.Errorf("%w: no key matches the signature", errBadToken)
}
