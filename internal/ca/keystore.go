package ca

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/internal/atomicfile"
	"github.com/shoal-project/shoal/internal/errdefs"
)

// File names are SwarmKit's, under the node's certificates directory.
const (
	RootCertFile = "swarm-root-ca.crt"
	NodeCertFile = "swarm-node.crt"
	NodeKeyFile  = "swarm-node.key"
)

const (
	encryptedKeyType = "SHOAL ENCRYPTED KEY"
)

// KeyStore keeps a node's root certificate, node certificate and node key
// in Dir. Every write is atomic (temp file, fsync, rename), so a crash
// leaves the old file or the new one, never half of either.
type KeyStore struct {
	Dir string
	// KEK, when set, encrypts the node key at rest (autolock): the key file
	// then holds AES-256-GCM ciphertext under a key derived from KEK. A
	// plaintext key on disk still loads, so that enabling autolock only
	// needs the next save.
	KEK []byte
}

// SaveRootCert writes the root CA certificate.
func (k KeyStore) SaveRootCert(certPEM []byte) error {
	return writeFileAtomic(k.Dir, RootCertFile, certPEM, 0o644)
}

// LoadRootCert reads the root CA certificate. A missing file is
// errdefs.NotFound.
func (k KeyStore) LoadRootCert() ([]byte, error) {
	return k.read(RootCertFile)
}

// SaveNode writes the node key, then the node certificate, so that a crash
// in between leaves a pair that fails to match (and is re-issued) rather
// than a certificate without its key.
func (k KeyStore) SaveNode(certPEM, keyPEM []byte) error {
	stored := keyPEM
	if len(k.KEK) > 0 {
		var err error
		if stored, err = sealKey(k.KEK, keyPEM); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(k.Dir, NodeKeyFile, stored, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(k.Dir, NodeCertFile, certPEM, 0o644)
}

// LoadNode reads the node certificate and key, decrypting the key with KEK
// if it is encrypted. An encrypted key without a KEK is
// errdefs.Unavailable (the node is locked); a wrong KEK is errdefs.Invalid.
func (k KeyStore) LoadNode() (certPEM, keyPEM []byte, err error) {
	certPEM, err = k.read(NodeCertFile)
	if err != nil {
		return nil, nil, err
	}
	stored, err := k.read(NodeKeyFile)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(stored)
	if block == nil {
		return nil, nil, errdefs.Invalid("node key %s is not PEM", filepath.Join(k.Dir, NodeKeyFile))
	}
	if block.Type != encryptedKeyType {
		return certPEM, stored, nil
	}
	if len(k.KEK) == 0 {
		return nil, nil, errdefs.Unavailable("node key %s is encrypted: the node is locked, unlock it with the unlock key", filepath.Join(k.Dir, NodeKeyFile))
	}
	keyPEM, err = openKey(k.KEK, block)
	if err != nil {
		return nil, nil, errdefs.Invalid("cannot decrypt node key %s: the unlock key is wrong (%w)", filepath.Join(k.Dir, NodeKeyFile), err)
	}
	return certPEM, keyPEM, nil
}

func (k KeyStore) read(name string) ([]byte, error) {
	path := filepath.Join(k.Dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("%s does not exist: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// nodeKeyPurpose seals node TLS keys.
const nodeKeyPurpose Purpose = "shoal node key"

// sealKey encrypts keyPEM into a PEM block whose bytes are Seal's.
func sealKey(kek, keyPEM []byte) ([]byte, error) {
	sealed, err := Seal(kek, keyPEM, nodeKeyPurpose)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{
		Type:    encryptedKeyType,
		Headers: map[string]string{"KDF": "HKDF-SHA256", "Cipher": "AES-256-GCM"},
		Bytes:   sealed,
	}), nil
}

func openKey(kek []byte, block *pem.Block) ([]byte, error) {
	return Unseal(kek, block.Bytes, nodeKeyPurpose)
}

func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return atomicfile.Write(filepath.Join(dir, name), data, perm)
}
