package main

import "crypto/ed25519"

func publicKey(priv ed25519.PrivateKey) ed25519.PublicKey { return priv.Public().(ed25519.PublicKey) }
