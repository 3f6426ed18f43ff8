package ca

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealSaltLen is the length of the random salt each sealing draws.
const sealSaltLen = 32

// Purpose names what a sealed secret is for. It feeds the key derivation
// and is authenticated with the ciphertext, so a secret sealed for one
// purpose cannot be opened as another.
type Purpose string

// Seal encrypts plain under a key derived from the key-encryption key kek
// (HKDF-SHA256 with a fresh salt, then AES-256-GCM): salt | nonce |
// ciphertext. A fresh salt per sealing gives a fresh AES key, so random
// nonces never repeat under one key. Autolock seals node keys with it.
func Seal(kek, plain []byte, p Purpose) ([]byte, error) {
	salt := make([]byte, sealSaltLen)
	rand.Read(salt)
	aead, err := sealAEAD(kek, salt, p)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := append(salt, nonce...)
	return aead.Seal(out, nonce, plain, []byte(p)), nil
}

// Unseal opens what Seal made with the same kek and purpose.
func Unseal(kek, sealed []byte, p Purpose) ([]byte, error) {
	if len(sealed) < sealSaltLen {
		return nil, errors.New("sealed data is truncated")
	}
	aead, err := sealAEAD(kek, sealed[:sealSaltLen], p)
	if err != nil {
		return nil, err
	}
	rest := sealed[sealSaltLen:]
	if len(rest) < aead.NonceSize() {
		return nil, errors.New("sealed data is truncated")
	}
	return aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(p))
}

func sealAEAD(kek, salt []byte, p Purpose) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, kek, salt, string(p), 32)
	if err != nil {
		return nil, fmt.Errorf("derive key encryption key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
