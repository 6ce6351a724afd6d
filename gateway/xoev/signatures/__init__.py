"""XMLDSig signatures: signing, verifying against pinned certificates, the key store."""
