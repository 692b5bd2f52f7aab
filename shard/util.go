package shard

import (
	"bytes"
	"encoding/hex"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func hexDigest(d [32]byte) string { return hex.EncodeToString(d[:]) }
