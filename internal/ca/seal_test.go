package ca

import (
	"bytes"
	"testing"
)

func TestSealRoundTripAndRefusals(t *testing.T) {
	kek := []byte("a key-encryption key of some length")
	sealed, err := Seal(kek, []byte("secret"), "purpose A")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed data contains the plaintext")
	}
	got, err := Unseal(kek, sealed, "purpose A")
	if err != nil || string(got) != "secret" {
		t.Fatalf("Unseal = %q, %v; want secret", got, err)
	}
	again, _ := Seal(kek, []byte("secret"), "purpose A")
	if bytes.Equal(again, sealed) {
		t.Fatal("two sealings gave the same bytes: salt or nonce not fresh")
	}
	for name, tc := range map[string]struct {
		kek    []byte
		sealed []byte
		p      Purpose
	}{
		"wrong key":     {[]byte("another key"), sealed, "purpose A"},
		"wrong purpose": {kek, sealed, "purpose B"},
		"truncated":     {kek, sealed[:10], "purpose A"},
		"tampered":      {kek, append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1), "purpose A"},
	} {
		if _, err := Unseal(tc.kek, tc.sealed, tc.p); err == nil {
			t.Errorf("%s: Unseal succeeded", name)
		}
	}
}
